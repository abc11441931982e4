import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import { entryParams, type EntryParams } from './code-entry-params.js';

// Writes a batch's NEW entries into code_entries in short transactions before the batch's
// version switch, marked staged_version = the batch's toVersion, so they stay out of the
// code set until the switch (staged-entries.ts, docs/decisions/0025). Between slices the
// event loop runs: a key press waits for one slice at most, never for a 10k-row
// transaction.
//
// What is staged: entries whose token id is not in the table and whose code digest no
// open entry holds. Everything else is returned ("deferred") for the switching transaction:
// updates of existing entries (they must not change before the switch), and inserts that
// collide with a code the batch frees by an update or a revocation (swaps). A duplicate
// within the batch is deferred too and fails there, as in a one-transaction apply.
//
// Slices commit like every other write (synchronous=FULL). Committing them with NORMAL was
// tried: it only moves the fsync of megabytes of staged frames to the next FULL commit,
// which may be a key press's own (decision 0025).

interface StagedParams extends EntryParams {
  stagedVersion: number;
}

export interface CodeBatchStagerOptions {
  /** Wall time one slice may take before it commits and yields (checked every CHUNK rows). */
  sliceBudgetMs: number;
  /** Lets the event loop run between slices (setImmediate in production). */
  yieldToLoop: () => Promise<void>;
}

export interface StageHooks {
  /** After each slice's commit, before the yield (the applier paces WAL checkpoints here). */
  afterCommit?: () => Promise<void> | undefined;
}

/** Rows checked for existence in one query; also the granularity of the slice budget. */
const CHUNK = 64;

export class CodeBatchStager {
  private readonly existingIds: Stmt<[string], { token_id: string }>;
  private readonly insertStaged: Stmt<StagedParams>;
  private readonly deleteLeftovers: Stmt<{ version: number; limit: number }>;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly options: CodeBatchStagerOptions,
  ) {
    this.existingIds = db.prepare<[string], { token_id: string }>(
      'SELECT token_id FROM code_entries WHERE token_id IN (SELECT value FROM json_each(?))',
    );
    // OR IGNORE: a taken token id or open code digest skips the row, which is then deferred.
    this.insertStaged = db.prepare(
      `INSERT OR IGNORE INTO code_entries (token_id, token, code_digest, parcel_id, compartment_id, current_compartment_id, size, kind,
                                           state, in_set, received_at, updated_at, staged_version)
       VALUES (@tokenId, @token, @codeDigest, @parcelId, @compartmentId, @compartmentId, @size, @kind,
               CASE WHEN EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = @tokenId) THEN 'revoked'
                    WHEN @kind = 'return-dropoff' THEN 'live'
                    ELSE 'awaiting-deposit' END,
               1, @at, @at, @stagedVersion)`,
    );
    this.deleteLeftovers = db.prepare(
      `DELETE FROM code_entries WHERE rowid IN
         (SELECT rowid FROM code_entries WHERE staged_version > @version LIMIT @limit)`,
    );
  }

  /**
   * Deletes rows staged for a version the set never reached (an apply killed or rejected
   * before its switch), so they hold no token id or code digest the next batch needs.
   * Synchronous, for use inside the one-transaction apply.
   */
  dropLeftoversNow(version: number): number {
    return this.deleteLeftovers.run({ version, limit: -1 }).changes;
  }

  /** The same in slices, yielding between them. */
  async dropLeftovers(version: number): Promise<number> {
    let dropped = 0;
    for (;;) {
      const n = this.deleteLeftovers.run({ version, limit: 500 }).changes;
      dropped += n;
      if (n < 500) return dropped;
      await this.options.yieldToLoop();
    }
  }

  /** Stages what can be staged; returns the entries left for the switching transaction. */
  async stage(entries: readonly CodeEntry[], stagedVersion: number, at: number, hooks: StageHooks = {}): Promise<CodeEntry[]> {
    const deferred: CodeEntry[] = [];
    let next = 0;
    while (next < entries.length) {
      next = this.db.transaction(() => {
        const started = performance.now();
        let i = next;
        do {
          const chunk = entries.slice(i, i + CHUNK);
          i += chunk.length;
          const existing = new Set(this.existingIds.all(JSON.stringify(chunk.map((e) => e.tokenId))).map((r) => r.token_id));
          for (const e of chunk) {
            if (existing.has(e.tokenId) || this.insertStaged.run(stagedParams(e, at, stagedVersion)).changes === 0) deferred.push(e);
          }
        } while (i < entries.length && performance.now() - started < this.options.sliceBudgetMs);
        return i;
      })();
      await hooks.afterCommit?.();
      await this.options.yieldToLoop();
    }
    return deferred;
  }
}

function stagedParams(e: CodeEntry, at: number, stagedVersion: number): StagedParams {
  return { ...entryParams(e, at), stagedVersion };
}
