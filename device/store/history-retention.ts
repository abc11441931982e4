import type { SqliteDatabase, Stmt } from './open-database.js';
import { TOKEN_EXP_SQL_FUNCTION } from './token-expiry.js';

// Deletes history that no longer protects anything, so a locker running for years keeps a
// small, flat file (docs/operations.md "Retention"; decision 0022). What goes, and why it
// is safe:
// - finished open-journal rows (the audit log holds the outcome);
// - completed commands whose validity has passed (the backend cannot resend them);
// - closed code entries (collected, retrieved, revoked) that have LEFT the backend's set
//   (in_set = 0: the backend revoked them, usually when their token expired, or a snapshot
//   omitted them). Before a row goes, its token id is written to the revoked set (a
//   tombstone, with the token's exp), so an entry the backend sends again is stored as
//   revoked, never as awaiting deposit or live. Rows still in the set stay: the code-set
//   digest counts them. Expired entries stay: their parcel still waits for a courier.
// - replay-set and revoked-set ids whose token's exp is more than `tokenExpiryMarginMs`
//   behind the CLOCK FLOOR (never the wall clock: a clock set forward must not free an id
//   while its token still verifies). Past that point the verifier rejects the token as
//   expired at any trusted time the device can reach, so neither set matters for it any
//   more (an entry row that is still there keeps its own state: revoked stays revoked).
//   An id whose exp is unknown is kept.
// Commands and token ids are judged against times the BACKEND wrote (a command's validity, a
// token's exp), so they are deleted only on a CONFIRMED clock (one that descends from a
// backend-signed time). A provisional clock (a new board's first wall reading, e.g. an RTC
// that reads years ahead) may be far ahead of real time and is replaced DOWN by the first
// signed time: a replay id or command record freed on its strength would let the same token
// or command act again once the clock is corrected. Journal and entry rows are stamped with
// device time itself, so their age is measured in the same (possibly provisional) time.
// Each table is trimmed by at most `maxRowsPerTable` rows per call, so a first prune after
// a long time stays short; the next call continues. Acknowledged audit records are pruned
// by the audit log itself (audit-log.ts prune, scheduled by the sync agent).

export interface RetentionOptions {
  /** Age (ms, against trusted now) beyond which journal, command and closed-entry history is deleted. */
  olderThanMs: number;
  /** Replay/revoked ids go once their token's exp is this far behind the clock floor; omit to keep them all. */
  tokenExpiryMarginMs?: number;
  /** Rows deleted per table and call (default 5,000). */
  maxRowsPerTable?: number;
}

export interface RetentionResult {
  opens: number;
  commands: number;
  closedEntries: number;
  usedTokens: number;
  revokedTokens: number;
}

export interface RetentionClock {
  /** Trusted now, epoch ms. */
  now: number;
  /** The persisted clock floor, epoch ms: never ahead of real time once confirmed. */
  floor: number;
  /** The clock descends from a backend-signed time; false = provisional, possibly far ahead. */
  confirmed: boolean;
}

const DEFAULT_MAX_ROWS = 5_000;
const idsIn = '(SELECT value FROM json_each(@ids))';

export class HistoryRetention {
  private readonly opens: Stmt<[number, number]>;
  private readonly commands: Stmt<[number, number]>;
  private readonly closedEntries: Stmt<[number, number], { token_id: string }>;
  private readonly tombstones: Stmt<{ ids: string; at: number }>;
  private readonly fillUsedExpiry: Stmt<{ ids: string }>;
  private readonly deleteEntries: Stmt<{ ids: string }>;
  private readonly usedTokens: Stmt<[number, number]>;
  private readonly revokedTokens: Stmt<[number, number]>;

  constructor(private readonly db: SqliteDatabase) {
    this.opens = db.prepare<[number, number]>(
      'DELETE FROM open_journal WHERE rowid IN (SELECT rowid FROM open_journal WHERE finished_at IS NOT NULL AND finished_at < ? LIMIT ?)',
    );
    this.commands = db.prepare<[number, number]>(
      'DELETE FROM command_log WHERE rowid IN (SELECT rowid FROM command_log WHERE completed_at IS NOT NULL AND expires_at < ? LIMIT ?)',
    );
    this.closedEntries = db.prepare<[number, number], { token_id: string }>(
      `SELECT token_id FROM code_entries WHERE state IN ('collected', 'retrieved', 'revoked') AND in_set = 0 AND updated_at < ? LIMIT ?`,
    );
    // Fills the exp of rows written without one (a snapshot's absent entries); the later
    // exp wins when the entry's token was re-issued after the revocation.
    this.tombstones = db.prepare(
      `INSERT INTO revoked_tokens (token_id, reason, revoked_at, expires_at)
       SELECT token_id, 'pruned-' || state, @at, ${TOKEN_EXP_SQL_FUNCTION}(token) FROM code_entries WHERE token_id IN ${idsIn}
       ON CONFLICT (token_id) DO UPDATE SET expires_at =
         max(coalesce(revoked_tokens.expires_at, excluded.expires_at), coalesce(excluded.expires_at, revoked_tokens.expires_at))`,
    );
    // The entry's token is the last place the exp of its replay record can be read from;
    // the later exp wins when the backend re-issued the entry's token after the use.
    const entryExp = `(SELECT ${TOKEN_EXP_SQL_FUNCTION}(c.token) FROM code_entries c WHERE c.token_id = used_tokens.token_id)`;
    this.fillUsedExpiry = db.prepare(
      `UPDATE used_tokens SET expires_at = max(coalesce(expires_at, ${entryExp}), coalesce(${entryExp}, expires_at))
        WHERE token_id IN ${idsIn}`,
    );
    this.deleteEntries = db.prepare(`DELETE FROM code_entries WHERE token_id IN ${idsIn}`);
    this.usedTokens = db.prepare<[number, number]>(
      'DELETE FROM used_tokens WHERE rowid IN (SELECT rowid FROM used_tokens WHERE expires_at < ? LIMIT ?)',
    );
    this.revokedTokens = db.prepare<[number, number]>(
      'DELETE FROM revoked_tokens WHERE rowid IN (SELECT rowid FROM revoked_tokens WHERE expires_at < ? LIMIT ?)',
    );
  }

  prune(options: RetentionOptions, clock: RetentionClock): RetentionResult {
    const cutoff = clock.now - options.olderThanMs;
    const limit = Math.max(1, Math.trunc(options.maxRowsPerTable ?? DEFAULT_MAX_ROWS));
    const margin = options.tokenExpiryMarginMs;
    return this.db.transaction(() => {
      const ids = JSON.stringify(this.closedEntries.all(cutoff, limit).map((r) => r.token_id));
      this.tombstones.run({ ids, at: clock.now });
      this.fillUsedExpiry.run({ ids });
      const closedEntries = this.deleteEntries.run({ ids }).changes;
      const expiredBefore = margin === undefined || !clock.confirmed ? undefined : clock.floor - margin;
      return {
        opens: this.opens.run(cutoff, limit).changes,
        commands: clock.confirmed ? this.commands.run(cutoff, limit).changes : 0,
        closedEntries,
        usedTokens: expiredBefore === undefined ? 0 : this.usedTokens.run(expiredBefore, limit).changes,
        revokedTokens: expiredBefore === undefined ? 0 : this.revokedTokens.run(expiredBefore, limit).changes,
      };
    })();
  }
}
