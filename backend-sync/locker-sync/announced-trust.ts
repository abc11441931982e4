import type { KeyStore } from '../keys/key-store.js';
import type { Alerts } from '../lockers/alerts.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';

// The kids a locker announces in its presence (`trustedKids`) correct the list the backend
// seals for (code_sets.trusted_kids). That list is otherwise learnt only from acks after a
// keyring went out, so a locker whose database was replaced (a fresh file trusts only the
// keys of its device config) would be sent seals by a key it no longer knows — including
// the batch that would teach it that key — and stay stuck. The list is only ever set to
// announced kids the fleet still trusts: never widened to a kid the locker did not name.
// The ack of the batch carrying the keyring sets it back to the current one.

export interface AnnouncedTrustDeps {
  store: Store;
  keys: KeyStore;
  alerts: Alerts;
  clock: Clock;
}

export type AnnouncedTrustOutcome = 'unchanged' | 'corrected' | 'untrusted';

export async function applyAnnouncedTrust(d: AnnouncedTrustDeps, log: Logger, lockerId: string, dbEpoch: string, announced: readonly string[]): Promise<AnnouncedTrustOutcome> {
  const fleet = new Set(await d.keys.trustedKids(d.clock.now()));
  const usable = [...new Set(announced)].filter((k) => fleet.has(k)).sort();
  if (usable.length === 0 || !d.keys.canSealWithOneOf(usable)) {
    // Nothing we could seal with would verify there: every batch, ack and command would be
    // refused. Left as it is (no loop of re-sends follows: the locker answers nothing),
    // raised once per database epoch; reprovisioning installs the current keyring.
    // The kids are key names, not secrets.
    log.error({ lockerId, dbEpoch, announced, usable }, 'locker.keyring_untrusted');
    await d.alerts.raise(lockerId, 'sync.keyring-untrusted', dbEpoch, { announced: [...announced], usable, action: 'reprovision the locker (its keyring holds no key the backend can sign with)' });
    return 'untrusted';
  }
  const set = await d.store.codeSets.ensure(lockerId);
  if (sameKids(usable, set.trustedKids)) return 'unchanged';
  await d.store.codeSets.setTrustedKids(lockerId, usable);
  log.warn({ lockerId, dbEpoch, previous: set.trustedKids, trustedKids: usable }, 'locker.trusted_kids_from_presence');
  return 'corrected';
}

function sameKids(a: readonly string[], b: readonly string[]): boolean {
  const y = [...b].sort();
  return a.length === y.length && a.every((v, i) => v === y[i]);
}
