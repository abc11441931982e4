import { codeDigest, type CompartmentSize, type IssuableClaims } from '../shared/contract.js';
import type { Clock } from '../shared/clock.js';
import { BackendError } from '../shared/errors.js';
import { newTokenId } from '../shared/ids.js';
import type { KeyStore } from './key-store.js';
import { newKeypadCode } from './pickup-code.js';

// Issues the tokens lockers verify offline. Pickup and return-dropoff tokens come with a
// keypad code: the token's `cdh` claim is codeDigest(pepper, lockerId, code) so a cached
// row cannot re-point a code to another token. The clear code is returned to the caller
// exactly once (for the notifier); the backend keeps only the digest.

export interface TokenTtls {
  pickupMs: number;
  courierMs: number;
  returnMs: number;
  codeDigits: number;
}

export interface IssuedToken {
  tokenId: string;
  token: string;
  kid: string;
  expiresAt: number;
}

export interface IssuedCodeToken extends IssuedToken {
  code: string;
  codeDigest: string;
}

const MAX_CODE_ATTEMPTS = 20;

export class TokenService {
  constructor(
    private readonly keys: KeyStore,
    private readonly clock: Clock,
    private readonly ttls: TokenTtls,
  ) {}

  private sign(lockerId: string, claims: Omit<IssuableClaims, 'jti' | 'iat' | 'nbf' | 'exp'>, ttlMs: number, tokenId = newTokenId()): IssuedToken {
    const now = this.clock.now();
    const expiresAt = now + ttlMs;
    const issuer = this.keys.tokenIssuer();
    const iso = (t: number): string => new Date(t).toISOString();
    const token = issuer.issue(lockerId, { ...claims, jti: tokenId, iat: iso(now), nbf: iso(now), exp: iso(expiresAt) });
    return { tokenId, token, kid: issuer.kid, expiresAt };
  }

  /**
   * A token opening one compartment with a fresh keypad code, unique among the locker's
   * live codes (`inUse` asks the store). Purpose 'pickup' or 'return-dropoff'.
   */
  async codeToken(
    purpose: 'pickup' | 'return-dropoff',
    lockerId: string,
    pepper: Uint8Array,
    target: { compartmentId: string; parcelId: string; size: CompartmentSize },
    inUse: (digest: string) => Promise<boolean>,
  ): Promise<IssuedCodeToken> {
    for (let attempt = 0; attempt < MAX_CODE_ATTEMPTS; attempt++) {
      const code = newKeypadCode(this.ttls.codeDigits);
      const digest = codeDigest(pepper, lockerId, code);
      if (await inUse(digest)) continue;
      const ttl = purpose === 'pickup' ? this.ttls.pickupMs : this.ttls.returnMs;
      const issued = this.sign(lockerId, { purpose, cmp: target.compartmentId, par: target.parcelId, cdh: digest }, ttl);
      return { ...issued, code, codeDigest: digest };
    }
    throw new BackendError('CONFLICT', 'could not find a free keypad code for this locker', { lockerId });
  }

  /** Same code (same digest), new token: after a key revocation or a re-slot. */
  reissueCodeToken(
    purpose: 'pickup' | 'return-dropoff',
    lockerId: string,
    target: { compartmentId: string; parcelId: string; codeDigest?: string | undefined },
  ): IssuedToken {
    const ttl = purpose === 'pickup' ? this.ttls.pickupMs : this.ttls.returnMs;
    const claims: Omit<IssuableClaims, 'jti' | 'iat' | 'nbf' | 'exp'> = { purpose, cmp: target.compartmentId, par: target.parcelId };
    if (target.codeDigest !== undefined) claims.cdh = target.codeDigest;
    return this.sign(lockerId, claims, ttl);
  }

  /** Courier credential: bound to one locker by the implicit assertion, opens compartments for parcels it scans. */
  courierToken(lockerId: string, courierId: string): IssuedToken {
    return this.sign(lockerId, { purpose: 'courier', sub: courierId }, this.ttls.courierMs);
  }

  /** Lets a courier take back a parcel (expired, or a customer's return) from one compartment. */
  returnRetrievalToken(lockerId: string, compartmentId: string, parcelId: string, courierId: string | undefined): IssuedToken {
    const claims: Omit<IssuableClaims, 'jti' | 'iat' | 'nbf' | 'exp'> = { purpose: 'return-retrieval', cmp: compartmentId, par: parcelId };
    if (courierId !== undefined) claims.sub = courierId;
    return this.sign(lockerId, claims, this.ttls.returnMs);
  }
}
