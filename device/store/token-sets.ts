import type { TokenPurpose } from '@locker/contract/tokens/claims.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import { TOKEN_EXP_SQL_FUNCTION } from './token-expiry.js';

// The two token-id sets the verifier consults: revoked (filled by code batches, also for
// tokens that are not in the code set, such as courier credentials) and used (the replay
// set). Both are keyed on the signed token id, never on signature bytes.
//
// Each row also keeps the token's exp when it is known, so retention can drop the id once
// the token could no longer verify anyway (history-retention.ts). Known = passed by the
// caller (claims of a verified token) or read from the token of the code entry with that
// id; the later of the two when both are there. Unknown stays NULL: kept for good.
// Needs token_exp_ms() registered on the connection (token-expiry.ts).

const entryExp = `(SELECT ${TOKEN_EXP_SQL_FUNCTION}(token) FROM code_entries WHERE token_id = @tokenId)`;

export class TokenSets {
  private readonly revoked: Stmt<[string], { one: number }>;
  private readonly used: Stmt<[string], { one: number }>;
  private readonly insertUsed: Stmt<{ tokenId: string; purpose: string; at: number; exp: number | null }>;
  private readonly insertRevoked: Stmt<{ tokenId: string; reason: string; at: number }>;

  constructor(db: SqliteDatabase) {
    this.revoked = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_tokens WHERE token_id = ?');
    this.used = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM used_tokens WHERE token_id = ?');
    // First use wins: the replay record keeps when the token was first used.
    this.insertUsed = db.prepare(
      `INSERT INTO used_tokens (token_id, purpose, used_at, expires_at)
       SELECT @tokenId, @purpose, @at, max(coalesce(@exp, e), coalesce(e, @exp)) FROM (SELECT ${entryExp} AS e) WHERE true
       ON CONFLICT (token_id) DO NOTHING`,
    );
    this.insertRevoked = db.prepare(
      `INSERT INTO revoked_tokens (token_id, reason, revoked_at, expires_at) VALUES (@tokenId, @reason, @at, ${entryExp})
       ON CONFLICT (token_id) DO NOTHING`,
    );
  }

  isRevoked(tokenId: string): boolean {
    return this.revoked.get(tokenId) !== undefined;
  }

  revoke(tokenId: string, reason: string, at: number): void {
    this.insertRevoked.run({ tokenId, reason, at });
  }

  isUsed(tokenId: string): boolean {
    return this.used.get(tokenId) !== undefined;
  }

  /** `expiresAt`: the verified token's exp (epoch ms), when the caller has it. */
  markUsed(tokenId: string, purpose: TokenPurpose, at: number, expiresAt?: number): void {
    this.insertUsed.run({ tokenId, purpose, at, exp: expiresAt ?? null });
  }
}
