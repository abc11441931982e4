import type { KeyStore } from '../keys/key-store.js';
import type { TokenService } from '../keys/token-service.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { CodeSetService } from './code-set-service.js';
import { touchAllLockers } from './touch-all-lockers.js';

// Revoking a signing key: every live token the kid signed is re-issued by the active key
// with the SAME claims (same compartment, same code digest), so customers keep the codes
// they were sent; then the kid is revoked and every locker's set is bumped so the keyring
// change goes out even where no token changed.
//
// One locker at a time, each in its own short transaction, never the whole fleet in one:
// that held every code set's lock (and on SQLite the only writer) while up to hundreds of
// thousands of tokens were re-issued, and shipments, deposits and expiry stopped
// fleet-wide for minutes in the middle of an incident. In this order no locker is ever
// sent the revocation before its re-issued tokens: a batch that carries the revoke is
// built after the kid is revoked, when that locker's tokens are already re-issued. If the
// process stops part way, running the revocation again finishes it: the tokens still
// signed by the kid are found again, the kid is revoked once, the bump is harmless.

export interface KeyRevocationDeps {
  store: Store;
  keys: KeyStore;
  tokens: TokenService;
  codeSets: CodeSetService;
  clock: Clock;
  logger: Logger;
}

export async function revokeSigningKey(kid: string, deps: KeyRevocationDeps): Promise<{ reissued: number }> {
  const { store, keys, codeSets } = deps;
  const log = deps.logger.child({ component: 'keys' });
  // Refused before anything changes (keys.revoke checks the same again, under its write).
  await keys.assertRevocable(kid);
  const reissued = await reissueLiveTokens(kid, deps);
  await store.transaction(() => keys.revoke(kid));
  log.warn({ kid, reissued }, 'keys.revoked');
  await touchAllLockers(store, codeSets);
  return { reissued };
}

/**
 * Re-issues every live token `kid` signed, under the active key, with the same claims: one
 * locker per transaction (its set's lock), the tokens read again under it, so two callers
 * never re-issue one token twice. Resolves to how many it re-issued.
 */
export async function reissueLiveTokens(kid: string, deps: KeyRevocationDeps): Promise<number> {
  const { store, tokens, codeSets, clock } = deps;
  let reissued = 0;
  // Ids only: the key may have signed hundreds of thousands of live tokens.
  const lockersWithTokens = await store.codeSets.lockersWithLiveKid(kid);
  for (const lockerId of lockersWithTokens) {
    // Counted inside the unit and returned from it: PostgreSQL may run a unit again.
    reissued += await store.transaction(async () => {
      await store.codeSets.ensure(lockerId); // the locker's lock
      let n = 0;
      for (const e of await store.codeSets.liveByKid(kid, lockerId)) {
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
      return n;
    });
  }
  return reissued;
}
