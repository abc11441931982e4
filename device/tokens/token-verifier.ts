import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { isContractError } from '@locker/contract/contract-error.js';
import { TokenClaims, TokenFooter, type TokenPurpose } from '@locker/contract/tokens/claims.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';
import { MAX_TOKEN_LENGTH, decodeV4Public, verifyDecodedV4Public, type DecodedV4Public } from '@locker/contract/tokens/paseto-v4-public.js';

// Offline verification of a backend token at the locker. Pure apart from the injected
// Ed25519 and keyring: the caller passes trusted time, and does replay and token-id
// revocation itself against the store (see `stillToCheck`).
//
// Order matters: size → structure → footer/kid → key status → signature (with the locker
// id as implicit assertion) → claims. Nothing inside the payload is parsed before the
// signature checks out. Every failure is a reason, never an exception.

export type TokenRejection =
  | 'malformed'
  | 'oversized'
  | 'unknown-key'
  | 'revoked-key'
  | 'retired-key'
  | 'bad-signature'
  | 'bad-claims'
  | 'not-yet-valid'
  | 'expired'
  | 'wrong-purpose';

export type TokenVerification =
  | { ok: true; claims: TokenClaims; kid: string }
  | {
      ok: false;
      reason: TokenRejection;
      /**
       * The token id, only when the signature and claims verified and only the time window
       * failed ('expired', 'not-yet-valid'): authenticated, so the caller may act on it
       * (mark its cached entry expired), which it must never do for a forged token.
       */
      tokenId?: string;
    };

export interface VerifyTokenInput {
  token: string;
  /** The PASETO implicit assertion: a token signed for another locker fails as 'bad-signature'. */
  lockerId: string;
  /** Trusted epoch ms (the caller applies its clock floor). */
  now: number;
  /** Purposes acceptable at this point of the user flow. */
  purposes: readonly TokenPurpose[];
}

export interface TokenTimePolicy {
  /** Allowance for a backend clock slightly ahead of ours when checking nbf. */
  nbfSkewMs: number;
  /** Grace after exp; 0 unless a deployment decides otherwise. */
  expLeewayMs: number;
}

export const defaultTokenTimePolicy: TokenTimePolicy = { nbfSkewMs: 60_000, expLeewayMs: 0 };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function kidOf(decoded: DecodedV4Public): string | undefined {
  const footer = TokenFooter.safeParse(parseJson(decoded.footer));
  return footer.success ? footer.data.kid : undefined;
}

function parseClaims(message: Uint8Array): TokenClaims | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(message);
  } catch {
    return undefined;
  }
  const claims = TokenClaims.safeParse(parseJson(text));
  return claims.success ? claims.data : undefined;
}

function verifyUnsafe(input: VerifyTokenInput, keyring: KeyResolver, ed: Ed25519, policy: TokenTimePolicy): TokenVerification {
  const { token, lockerId, now, purposes } = input;
  if (typeof token !== 'string' || typeof lockerId !== 'string') return { ok: false, reason: 'malformed' };
  // Checked first and on its own so a huge input costs nothing beyond its length.
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'oversized' };

  let decoded: DecodedV4Public;
  try {
    decoded = decodeV4Public(token);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const kid = kidOf(decoded);
  if (kid === undefined) return { ok: false, reason: 'malformed' };

  const found = keyring.lookup(kid, now);
  switch (found.status) {
    case 'unknown':
      return { ok: false, reason: 'unknown-key' };
    case 'revoked':
      return { ok: false, reason: 'revoked-key' };
    case 'retired':
      return { ok: false, reason: 'retired-key' };
    case 'trusted':
      break;
  }

  let message: Uint8Array;
  try {
    message = verifyDecodedV4Public(ed, found.key, decoded, lockerId).message;
  } catch (err) {
    return { ok: false, reason: isContractError(err, 'TOKEN_SIGNATURE') ? 'bad-signature' : 'malformed' };
  }

  const claims = parseClaims(message);
  if (claims === undefined) return { ok: false, reason: 'bad-claims' };
  // A credential presented in the wrong flow says so, whatever its validity window.
  if (!purposes.includes(claims.purpose)) return { ok: false, reason: 'wrong-purpose' };
  // Comparisons are written so that a NaN `now` fails closed.
  if (!(now + policy.nbfSkewMs >= Date.parse(claims.nbf))) return { ok: false, reason: 'not-yet-valid', tokenId: claims.jti };
  if (!(now < Date.parse(claims.exp) + policy.expLeewayMs)) return { ok: false, reason: 'expired', tokenId: claims.jti };
  return { ok: true, claims, kid };
}

/** Never throws, whatever the input. */
export function verifyToken(input: VerifyTokenInput, keyring: KeyResolver, ed: Ed25519, policy: TokenTimePolicy = defaultTokenTimePolicy): TokenVerification {
  try {
    return verifyUnsafe(input, keyring, ed, policy);
  } catch {
    // Defence in depth: a bug below must reject the token, not crash the keypad handler.
    return { ok: false, reason: 'malformed' };
  }
}

/**
 * What a valid signature does NOT establish, and the caller must still check against the
 * store before acting on the token (in one transaction with the open it authorises):
 *  - 'token-not-revoked'   the backend has not revoked `tokenId` (isTokenRevoked)
 *  - 'token-not-used'      single-use purposes: `tokenId` not seen before (isTokenUsed),
 *                          then markTokenUsed; keyed on the id, never on signature bytes
 *  - 'compartment-matches' the token's cmp/par agree with the cached entry being opened
 */
export type CallerCheck = 'token-not-revoked' | 'token-not-used' | 'compartment-matches';

export function stillToCheck(claims: TokenClaims): { tokenId: string; checks: readonly CallerCheck[] } {
  const checks: CallerCheck[] = ['token-not-revoked'];
  // Courier and service credentials are reused for a whole shift; everything else opens once.
  if (claims.purpose !== 'courier' && claims.purpose !== 'service') checks.push('token-not-used');
  if (claims.cmp !== undefined) checks.push('compartment-matches');
  return { tokenId: claims.jti, checks };
}
