import type { Logger } from '../logger.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { TokenGate } from './token-gate.js';
import type { DeviceTime } from './trusted-time.js';

// Flags uncollected parcels for return when their pickup window ends, whether or not the
// customer tries again: every occupied compartment's live entries are re-verified, and an
// entry whose token has expired is marked expired (one transaction per entry, audited).
// Cheap: one live entry per occupied compartment, one signature check each.
// Only entries expired for longer than the grace are swept: a customer who comes shortly
// after the end of the window still gets "pickup period ended" rather than "not valid"
// (the store no longer finds an expired entry by its code), and the keypad path expires
// the entry itself then.
// Expiry for return is judged on confirmed device time only (docs/decisions/0019): a
// backend-signed time plus monotonic time since. A wall clock set forward expires nothing;
// a device that has never seen a signed time sweeps nothing.
export class ExpirySweep {
  constructor(
    private readonly store: RuntimeStore,
    private readonly tokens: TokenGate,
    private readonly time: DeviceTime,
    private readonly log: Logger,
    private readonly graceMs: number,
  ) {}

  run(): number {
    const { store } = this;
    const now = this.time.confirmedNow();
    if (now === undefined) {
      this.log.debug({}, 'expiry.skipped-unconfirmed-time');
      return 0;
    }
    let expired = 0;
    for (const compartment of store.listCompartments()) {
      if (compartment.status !== 'occupied') continue;
      for (const entry of store.findEntriesInCompartment(compartment.id)) {
        const verification = this.tokens.verify(entry.token, [entry.kind], now - this.graceMs);
        if (verification.ok || verification.reason !== 'expired') continue;
        store.transaction(() => {
          store.markExpired(entry.tokenId, now);
          store.appendAudit('pickup.expired', 'normal', { tokenId: entry.tokenId, parcelId: entry.parcelId, compartmentId: entry.currentCompartmentId, returnNeeded: true, by: 'sweep' });
        });
        expired += 1;
      }
    }
    if (expired > 0) this.log.info({ expired }, 'expiry.swept');
    return expired;
  }
}
