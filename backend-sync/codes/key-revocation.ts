import type { KeyStore } from '../keys/key-store.js';
import type { TokenService } from '../keys/token-service.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { CodeSetService } from './code-set-service.js';

// Revoking a signing key: every locker gets 'revoke' for the kid, and every live token the
// kid signed is re-issued by the active key with the SAME claims (same compartment, same
// code digest), so customers keep the codes they were sent. One transaction, then every
// locker's set is bumped so the keyring change goes out even where no token changed.

export async function revokeSigningKey(
  kid: string,
  deps: { store: Store; keys: KeyStore; tokens: TokenService; codeSets: CodeSetService; clock: Clock; logger: Logger },
): Promise<{ reissued: number }> {
  const { store, keys, tokens, codeSets, clock } = deps;
  // Counted inside the unit and returned from it: PostgreSQL may run a unit again.
  const reissued = await store.transaction(async () => {
    let n = 0;
    await keys.revoke(kid);
    // Every locker's set is changed below; locking them all first, in id order (the order
    // every multi-locker change takes them), keeps two such changes from deadlocking.
    const lockerIds = await store.lockers.ids();
    for (const lockerId of lockerIds) await store.codeSets.ensure(lockerId);
    for (const e of await store.codeSets.liveByKid(kid)) {
      // Revoked before re-added: the new entry carries the same code digest, which may be
      // live only once per locker.
      await codeSets.revoke(e.lockerId, e.tokenId, 'compromised');
      const t = tokens.reissueCodeToken(e.kind, e.lockerId, { compartmentId: e.compartmentId, parcelId: e.parcelId, codeDigest: e.codeDigest });
      const { addedVersion: _a, revokedVersion: _r, revokeReason: _rr, ...rest } = e;
      await codeSets.add({ ...rest, tokenId: t.tokenId, token: t.token, kid: t.kid, expiresAt: t.expiresAt });
      if (e.shipmentId !== undefined) {
        const s = await store.shipments.get(e.shipmentId);
        if (s !== undefined && s.pickupTokenId === e.tokenId) await store.shipments.update(s.id, s.version, { pickupTokenId: t.tokenId }, clock.now());
        if (s !== undefined && s.returnTokenId === e.tokenId) await store.shipments.update(s.id, s.version, { returnTokenId: t.tokenId }, clock.now());
      }
      n++;
    }
    for (const lockerId of lockerIds) await codeSets.touch(lockerId);
    return n;
  });
  deps.logger.child({ component: 'keys' }).warn({ kid, reissued }, 'keys.revoked');
  return { reissued };
}
