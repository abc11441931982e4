import type { Logger } from '../shared/logger.js';
import { reissueLiveTokens, type KeyRevocationDeps } from './key-revocation.js';

// Every instance follows revocations made on another one (sweeper task
// `key-revocation-follow`). Revoking a key runs on one instance; another that was never
// reloaded may still sign with the revoked kid, and every token it issues and every batch
// it seals is then refused by the lockers, which already hold the revocation: a customer
// at the locker with a code that does not open. Each pass: the key store drops kids
// revoked in the database and, if its own active kid is among them, switches to the key
// the database holds active when its keys directory has it (or stops signing until it
// does, see KeyStore.followRevocations); then any token still live under a revoked kid,
// issued by such an instance before it noticed, is re-issued under the active key. Both
// steps find nothing in the usual pass: two reads of the small signing_keys table and one
// index probe per revoked kid.

export class RevocationFollower {
  private readonly log: Logger;
  private wasAvailable = true;

  constructor(private readonly d: KeyRevocationDeps) {
    this.log = d.logger.child({ component: 'keys' });
  }

  /** One pass; resolves to the tokens it re-issued. */
  async run(): Promise<number> {
    const { keys } = this.d;
    const follow = await keys.followRevocations();
    if (follow.outcome === 'switched') this.log.warn({ previousKid: follow.previousKid, activeKid: follow.activeKid }, follow.cause === 'revoked' ? 'keys.revocation_followed' : 'keys.rotation_followed');
    if (follow.outcome === 'restored') this.log.info({ activeKid: follow.activeKid }, 'keys.signing_restored');
    // Logged once when it starts, not every pass: /health and backend_signing_available show it meanwhile.
    if (follow.outcome === 'disabled' && this.wasAvailable) this.log.error({ previousKid: follow.previousKid, cause: follow.cause, reason: follow.reason }, 'keys.signing_unavailable');
    this.wasAvailable = keys.signingAvailable;
    if (!keys.signingAvailable) return 0;
    let reissued = 0;
    for (const kid of await keys.revokedKids()) {
      const n = await reissueLiveTokens(kid, this.d);
      if (n > 0) this.log.warn({ kid, reissued: n }, 'keys.revoked_tokens_reissued');
      reissued += n;
    }
    return reissued;
  }
}
