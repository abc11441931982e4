import type { SqliteDatabase, Stmt } from './open-database.js';

// Deletes history that no longer protects anything, so a locker running for years keeps a
// small file. Only rows whose facts live on elsewhere are removed:
// - finished open-journal rows (the audit log holds the outcome);
// - completed commands whose validity has passed (the backend cannot resend them);
// - revoked code entries the backend no longer sends: the revoked-token set keeps the id,
//   so a later re-send is stored as revoked again. Collected and retrieved entries are
//   kept: deleting them would let a re-sent entry come back as awaiting-deposit.
// - used tokens, only when the caller passes a replay window at least as long as the
//   longest token lifetime: after that an old token fails its expiry check anyway.

export interface RetentionOptions {
  /** Age (ms) beyond which journal, command and revoked-entry history is deleted. */
  olderThanMs: number;
  /** Age (ms) beyond which replay-set rows are deleted; omit to keep them all. */
  usedTokensOlderThanMs?: number;
}

export interface RetentionResult {
  opens: number;
  commands: number;
  revokedEntries: number;
  usedTokens: number;
}

export class HistoryRetention {
  private readonly opens: Stmt<[number]>;
  private readonly commands: Stmt<[number]>;
  private readonly revokedEntries: Stmt<[number]>;
  private readonly usedTokens: Stmt<[number]>;

  constructor(private readonly db: SqliteDatabase) {
    this.opens = db.prepare<[number]>('DELETE FROM open_journal WHERE finished_at IS NOT NULL AND finished_at < ?');
    this.commands = db.prepare<[number]>('DELETE FROM command_log WHERE completed_at IS NOT NULL AND expires_at < ?');
    this.revokedEntries = db.prepare<[number]>(`DELETE FROM code_entries WHERE state = 'revoked' AND in_set = 0 AND updated_at < ?`);
    this.usedTokens = db.prepare<[number]>('DELETE FROM used_tokens WHERE used_at < ?');
  }

  prune(options: RetentionOptions, now: number): RetentionResult {
    const cutoff = now - options.olderThanMs;
    return this.db.transaction(() => ({
      opens: this.opens.run(cutoff).changes,
      commands: this.commands.run(cutoff).changes,
      revokedEntries: this.revokedEntries.run(cutoff).changes,
      usedTokens: options.usedTokensOlderThanMs === undefined ? 0 : this.usedTokens.run(now - options.usedTokensOlderThanMs).changes,
    }))();
  }
}
