import type { CodeSetService } from '../codes/code-set-service.js';
import type { Clock } from '../shared/clock.js';
import { isBackendError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { Actor, OrderTransitions } from './order-transitions.js';

// A customer asked to return a parcel (ParcelEvents.requestReturn: a compartment reserved,
// a drop-off code issued) and never came. Once the code's token expired, the compartment
// would otherwise stay reserved for ever: the return-expiry sweep frees it, revokes the
// code on the locker, and moves the shipment back to `collected` (the parcel is still
// with the customer, who may ask again), telling the customer once (`return.code_expired`).

export interface ReturnExpiryDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  codeSets: CodeSetService;
  transitions: OrderTransitions;
  /**
   * How long after the code's expiry the compartment is kept: a drop-off the locker
   * recorded just before the expiry may still be on its way up (a locker offline for up to
   * this long is still offered to customers).
   */
  graceMs: number;
}

export class ReturnExpiry {
  private readonly log: Logger;

  constructor(private readonly d: ReturnExpiryDeps) {
    this.log = d.logger.child({ component: 'return-expiry' });
  }

  /**
   * Ends one return whose drop-off code expired by `expiredBy`, under its order's lock.
   * Re-checked after the lock: a drop-off applied meanwhile (another instance, the locker's
   * upload) wins, and the return is left as it is.
   */
  expire(shipmentId: string, expiredBy: number, who: Actor): Promise<'applied' | 'ignored'> {
    const { store, transitions, codeSets, clock } = this.d;
    return store.transaction(async () => {
      const seen = await store.shipments.get(shipmentId);
      if (seen?.state !== 'return_requested') return 'ignored';
      await transitions.lockOrder(seen.orderId);
      const s = await store.shipments.get(shipmentId);
      if (s?.state !== 'return_requested' || s.lockerId === undefined || s.returnTokenId === undefined) return 'ignored';
      const entry = await store.codeSets.entry(s.lockerId, s.returnTokenId);
      if (entry === undefined || entry.expiresAt > expiredBy) return 'ignored';
      const now = clock.now();
      // The code is dead on the locker too (the code-expiry sweep may have revoked it already).
      await codeSets.revoke(s.lockerId, s.returnTokenId, 'expired');
      // Releasing the consumed reservation frees the compartment it reserved.
      if (s.reservationId !== undefined && (await store.reservations.release(s.reservationId, 'released', now))) {
        await store.stateLog.append({ entity: 'reservation', entityId: s.reservationId, from: 'consumed', to: 'released', event: 'release', actor: who.actor, reason: 'return drop-off code expired unused', at: now });
      }
      await transitions.shipment(s, 'expire_return', who, {}, { lockerId: s.lockerId });
      await transitions.refreshOrder(s.orderId, who);
      this.log.info({ event: 'return.code_expired', shipmentId, lockerId: s.lockerId, compartmentId: s.compartmentId }, 'return.code_expired');
      return 'applied';
    });
  }

  /** Sweeper: every return whose drop-off code expired more than the grace ago. Another instance's win is not an error. */
  async expireDue(limit = 200): Promise<number> {
    const expiredBy = this.d.clock.now() - this.d.graceMs;
    let n = 0;
    for (const s of await this.d.store.shipments.returnCodeExpired(expiredBy, limit)) {
      try {
        if ((await this.expire(s.id, expiredBy, { actor: 'sweeper', reason: 'return drop-off code expired' })) === 'applied') n++;
      } catch (err) {
        if (!isBackendError(err, 'CONFLICT')) throw err;
        this.log.info({ shipmentId: s.id }, 'return.expiry_taken_elsewhere');
      }
    }
    return n;
  }
}
