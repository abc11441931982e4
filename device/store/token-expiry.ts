import { z } from 'zod';
import { decodeV4Public } from '@locker/contract/tokens/paseto-v4-public.js';
import type { SqliteDatabase } from './open-database.js';

// How long a token id must stay in the replay and revoked sets: until the token's own exp
// (plus a margin) is behind the clock floor, after which the verifier rejects the token as
// expired whatever the sets say. The exp is read from a stored token WITHOUT checking its
// signature: it came in a signed code batch, and it only decides how long an id is kept,
// never whether anything opens. A token whose exp cannot be read yields null, and a null
// expiry keeps the id for good (fail safe).

const ExpClaim = z.object({ exp: z.iso.datetime({ offset: true }) });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The token's exp as epoch ms, or null when the token is not a readable v4.public token. */
export function tokenExpiryMs(token: string): number | null {
  try {
    const claims = ExpClaim.safeParse(JSON.parse(strictUtf8.decode(decodeV4Public(token).message)));
    if (!claims.success) return null;
    const ms = Date.parse(claims.data.exp);
    return Number.isSafeInteger(ms) ? ms : null;
  } catch {
    return null;
  }
}

export const TOKEN_EXP_SQL_FUNCTION = 'token_exp_ms';

/** Makes `token_exp_ms(token)` available to this connection's SQL (idempotent). */
export function registerTokenExpiryFunction(db: SqliteDatabase): void {
  db.function(TOKEN_EXP_SQL_FUNCTION, { deterministic: true }, (token: unknown) => (typeof token === 'string' ? tokenExpiryMs(token) : null));
}
