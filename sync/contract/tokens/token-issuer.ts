import type { Ed25519, PrivateKeyHandle } from '../crypto/ed25519.js';
import { ContractError } from '../contract-error.js';
import { LockerId, TokenClaims, TokenFooter } from './claims.js';
import { signV4Public } from './paseto-v4-public.js';

// Signs tokens the way the device verifies them: footer {"kid":…} so the locker can pick
// the key, implicit assertion = locker id so the token opens nothing elsewhere. Used by the
// backend and by tests; the device never holds a signing key.

export type IssuableClaims = Omit<TokenClaims, 'iss'>;

export interface TokenIssuerOptions {
  ed: Ed25519;
  kid: string;
  /** 32-byte Ed25519 seed (RFC 8032 private key). */
  seed: Uint8Array;
  /** Written into every token's `iss`. */
  issuer: string;
}

export class TokenIssuer {
  readonly kid: string;
  readonly publicKey: Uint8Array;
  private readonly ed: Ed25519;
  private readonly key: PrivateKeyHandle;
  private readonly issuer: string;
  private readonly footer: string;

  /** Imports the key once; throws ContractError CONFIG_INVALID for a bad kid or seed. */
  constructor(options: TokenIssuerOptions) {
    const footer = TokenFooter.safeParse({ kid: options.kid });
    if (!footer.success) throw new ContractError('CONFIG_INVALID', 'token issuer kid is invalid');
    this.ed = options.ed;
    this.kid = options.kid;
    this.issuer = options.issuer;
    this.key = options.ed.importPrivateKey(options.seed);
    this.publicKey = this.key.publicKey;
    this.footer = JSON.stringify(footer.data);
  }

  /** Throws ContractError TOKEN_CLAIMS rather than sign anything the device would reject. */
  issue(lockerId: string, claims: IssuableClaims): string {
    if (!LockerId.safeParse(lockerId).success) throw new ContractError('TOKEN_CLAIMS', 'locker id is invalid');
    const parsed = TokenClaims.safeParse({ ...claims, iss: this.issuer });
    if (!parsed.success) {
      throw new ContractError('TOKEN_CLAIMS', 'token claims are invalid', { issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    const message = new TextEncoder().encode(JSON.stringify(parsed.data));
    return signV4Public(this.ed, this.key, message, this.footer, lockerId);
  }
}
