import type { TokenPurpose } from '@locker/contract/tokens/claims.js';
import type { SqliteDatabase, Stmt } from './open-database.js';

// The two token-id sets the verifier consults: revoked (filled by code batches, also for
// tokens that are not in the code set, such as courier credentials) and used (the replay
// set). Both are keyed on the signed token id, never on signature bytes.

export class TokenSets {
  private readonly revoked: Stmt<[string], { one: number }>;
  private readonly used: Stmt<[string], { one: number }>;
  private readonly insertUsed: Stmt<[string, string, number]>;
  private readonly insertRevoked: Stmt<[string, string, number]>;

  constructor(db: SqliteDatabase) {
    this.revoked = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM revoked_tokens WHERE token_id = ?');
    this.used = db.prepare<[string], { one: number }>('SELECT 1 AS one FROM used_tokens WHERE token_id = ?');
    // First use wins: the replay record keeps when the token was first used.
    this.insertUsed = db.prepare<[string, string, number]>(
      'INSERT INTO used_tokens (token_id, purpose, used_at) VALUES (?, ?, ?) ON CONFLICT (token_id) DO NOTHING',
    );
    this.insertRevoked = db.prepare<[string, string, number]>(
      'INSERT INTO revoked_tokens (token_id, reason, revoked_at) VALUES (?, ?, ?) ON CONFLICT (token_id) DO NOTHING',
    );
  }

  isRevoked(tokenId: string): boolean {
    return this.revoked.get(tokenId) !== undefined;
  }

  revoke(tokenId: string, reason: string, at: number): void {
    this.insertRevoked.run(tokenId, reason, at);
  }

  isUsed(tokenId: string): boolean {
    return this.used.get(tokenId) !== undefined;
  }

  markUsed(tokenId: string, purpose: TokenPurpose, at: number): void {
    this.insertUsed.run(tokenId, purpose, at);
  }
}
