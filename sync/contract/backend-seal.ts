import { z } from 'zod';
import type { Ed25519, PrivateKeyHandle } from './crypto/ed25519.js';
import { isContractError } from './contract-error.js';
import { TokenFooter } from './tokens/claims.js';
import type { KeyResolver } from './tokens/keyring.js';
import { MAX_TOKEN_LENGTH, decodeV4Public, peekFooter, signV4Public, v4PublicTokenLength, verifyDecodedV4Public } from './tokens/paseto-v4-public.js';

// The "seal": how every backend → locker message is authenticated. It is a PASETO
// v4.public token (the same signer and verifier as pickup tokens, device/tokens/) whose
// payload is a small JSON claim set with a `typ`, the locker id and an issue time:
//   footer              {"kid": "..."}  picks the backend key from the locker's keyring
//   implicit assertion  the locker id   a seal made for locker A fails at every other locker
//   typ                 which message it seals; claims of one typ never parse as another,
//                       and a pickup token (no typ, strict claims) never parses as a seal
//   iat                 backend clock, epoch ms: feeds the locker's trusted-time floor
// Large content (a code batch) is not inside the seal: the seal carries its SHA-256
// (content-hash.ts) and counts, and the content travels beside it.

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type SealRejection =
  | 'seal-malformed'
  | 'key-unknown'
  | 'key-revoked'
  | 'key-retired'
  | 'signature-invalid'
  | 'claims-invalid'
  | 'wrong-locker'
  | 'wrong-typ';

export type SealResult<T> = { ok: true; claims: T; kid: string } | { ok: false; reason: SealRejection; detail?: string };

/**
 * Characters a seal built to fit keeps free below MAX_TOKEN_LENGTH. The length is computed
 * exactly (sealLength); the margin is for whoever changes the encoding and forgets this.
 */
export const SEAL_MARGIN = 64;

/** Signs `claims` (already shaped by the caller's schema) for one locker. */
export function signSeal(ed: Ed25519, key: PrivateKeyHandle, kid: string, lockerId: string, claims: Record<string, unknown>): string {
  const footer = JSON.stringify(TokenFooter.parse({ kid }));
  return signV4Public(ed, key, encoder.encode(JSON.stringify(claims)), footer, lockerId);
}

/** The length signSeal gives the seal of `claims` under `kid`, without signing. */
export function sealLength(kid: string, claims: Record<string, unknown>): number {
  return v4PublicTokenLength(encoder.encode(JSON.stringify(claims)).length, JSON.stringify(TokenFooter.parse({ kid })));
}

/** Whether the seal of `claims` fits MAX_TOKEN_LENGTH with SEAL_MARGIN to spare. */
export function sealFits(kid: string, claims: Record<string, unknown>): boolean {
  return sealLength(kid, claims) <= MAX_TOKEN_LENGTH - SEAL_MARGIN;
}

/**
 * Verifies a seal made for `lockerId` and parses its claims with `schema`. Never throws:
 * every failure is a reason the caller logs. `now` decides whether a retired key counts.
 */
export function openSeal<S extends z.ZodType<{ typ: string; lockerId: string }>>(
  ed: Ed25519,
  keys: KeyResolver,
  token: string,
  lockerId: string,
  schema: S,
  now: number,
): SealResult<z.infer<S>> {
  let kid: string;
  let decoded;
  try {
    decoded = decodeV4Public(token);
    const footer = TokenFooter.safeParse(JSON.parse(peekFooter(token)));
    if (!footer.success) return { ok: false, reason: 'seal-malformed', detail: 'footer' };
    kid = footer.data.kid;
  } catch {
    return { ok: false, reason: 'seal-malformed' };
  }
  const lookup = keys.lookup(kid, now);
  if (lookup.status !== 'trusted') return { ok: false, reason: lookup.status === 'unknown' ? 'key-unknown' : lookup.status === 'revoked' ? 'key-revoked' : 'key-retired' };
  let text: string;
  try {
    const { message } = verifyDecodedV4Public(ed, lookup.key, decoded, lockerId);
    text = strictUtf8.decode(message);
  } catch (err) {
    if (isContractError(err, 'TOKEN_SIGNATURE')) return { ok: false, reason: 'signature-invalid' };
    return { ok: false, reason: 'seal-malformed' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'claims-invalid', detail: 'json' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const typ = z.object({ typ: z.string() }).safeParse(json);
    const first = parsed.error.issues[0];
    if (typ.success && first?.path[0] === 'typ') return { ok: false, reason: 'wrong-typ', detail: typ.data.typ.slice(0, 32) };
    return first === undefined ? { ok: false, reason: 'claims-invalid' } : { ok: false, reason: 'claims-invalid', detail: `${first.path.join('.')}: ${first.message}`.slice(0, 200) };
  }
  // The implicit assertion already bound the signature to lockerId; this catches a backend
  // that signed claims naming another locker with this locker's assertion (a bug).
  if (parsed.data.lockerId !== lockerId) return { ok: false, reason: 'wrong-locker' };
  return { ok: true, claims: parsed.data, kid };
}
