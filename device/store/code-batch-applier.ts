import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CodeBatch, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { findBatchContentProblem } from '@locker/contract/codes/code-batch-content.js';
import { CodeSetAccumulator } from '@locker/contract/codes/code-set-accumulator.js';
import { EMPTY_CODE_SET_DIGEST } from '@locker/contract/codes/code-set-digest.js';
import type { Logger } from '../logger.js';
import type { BatchApplyResult, CodeSetState } from '@locker/sync-agent/device-sync-port.js';
import type { AuditLog } from '../audit/audit-log.js';
import { DeviceError } from '../errors.js';
import { findPinnedRebind, type PinnedKey } from '@locker/contract/tokens/keyring.js';
import { CodeBatchStager } from './code-batch-stager.js';
import { entryParams, type EntryParams } from './code-entry-params.js';
import { xorEntryHashesInSlices } from './sliced-entry-hashes.js';
import { WalPacer } from './wal-pacer.js';
import type { KeyringRepository } from './keyring-repository.js';
import type { MetaRepository } from './meta-repository.js';
import type { ParallelEntryHasher, PendingXor } from './parallel-entry-hasher.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import { isUniqueViolation, sqliteCode } from './sqlite-errors.js';
import { VISIBLE_ENTRY } from './staged-entries.js';
import type { TokenSets } from './token-sets.js';

// Applies a code batch: the device's critical write path. Checks that need no database
// come first (locker, versions, content); then keyring, revocations, upserts, the new
// version + digest and an audit record go in ONE transaction: all or nothing.
//
// Snapshot semantics (device-local facts win over the backend's view of them):
// - entries the snapshot does not contain: awaiting-deposit/live become revoked (and their
//   token ids join the revoked set); expired stay expired (the parcel still waits for its
//   return); collected/retrieved/revoked stay as they are. All leave the digest.
// - entries it contains keep their device state: a deposited (live) entry stays live in
//   its current compartment, a collected one stays collected, a revoked one stays revoked.
//   Their content (token, digest, parcel...) is updated and they count in the digest.
// So after a snapshot the digest equals codeSetDigestOf(snapshot.upserts) by construction.
//
// Performance: one statement per entry (prepared once) plus a handful of set statements;
// never a SELECT per entry, never a signature check (the signed manifest covers content;
// a token is verified when it is used). The upserts' digest hashes: in apply(), on a
// worker thread while the rows are written (parallel-entry-hasher.ts); in applyInSlices(),
// on the event loop in slices (sliced-entry-hashes.ts), since handing the entries to the
// worker is itself one long turn.
//
// Two ways in (docs/decisions/0025):
// - apply(): everything in one transaction, synchronous. Seeding, tests, tools.
// - applyInSlices(): what the sync agent uses. The new entries are staged first in short
//   transactions, yielding to the event loop between them (code-batch-stager.ts); then one
//   short transaction does everything else and switches the version, which makes the staged
//   rows visible at once (staged-entries.ts). A code of the old set opens until that switch,
//   one of the new set right after it; a kill before the switch leaves the old set whole.
//   Calls are serialised; apply() refuses to run while a sliced apply is in flight.
//   From MIN_PACED_ENTRIES upserts, WAL checkpoints run in turns of their own every few
//   slices instead of inside a commit (wal-pacer.ts).
//
// Before anything is written, a batch that would re-bind a kid of the device config's
// trusted keys to another public key is rejected whole and audited on the priority lane.

interface ExistingRow {
  token_id: string;
  token: string;
  in_set: 0 | 1;
}

class BatchRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export interface CodeBatchApplierDeps {
  db: SqliteDatabase;
  lockerId: string;
  meta: MetaRepository;
  tokens: TokenSets;
  keyring: KeyringRepository;
  audit: AuditLog;
  hasher: ParallelEntryHasher;
  now: () => number;
  logger: Logger;
  /** The device config's trusted keys: a batch may not bind their kids to other keys. */
  pinnedKeys?: readonly PinnedKey[];
  /** Wall time one staging slice may hold the event loop (default 4 ms). */
  sliceBudgetMs?: number;
  /** Runs between staging slices (default: the next event-loop turn). Tests look in here. */
  yieldToLoop?: () => Promise<void>;
  /**
   * Staging slices between two WAL checkpoints of a large sliced apply (wal-pacer.ts;
   * default 2). 0 leaves checkpoints to SQLite's autocheckpoint, as before.
   */
  checkpointEverySlices?: number;
}

/** From this many upserts a sliced apply paces its WAL checkpoints (wal-pacer.ts). */
export const MIN_PACED_ENTRIES = 1_000;

/**
 * A key press waits for one slice at most: 2 ms of work plus its commit (or one small
 * checkpoint). 4 ms slices measured worse (decision 0025, addendum).
 */
export const DEFAULT_SLICE_BUDGET_MS = 2;
export const DEFAULT_CHECKPOINT_EVERY_SLICES = 2;

export class CodeBatchApplier {
  private readonly selectExisting: Stmt<[string], ExistingRow>;
  private readonly clearDigests: Stmt<[string]>;
  private readonly insertEntry: Stmt<EntryParams>;
  private readonly updateEntry: Stmt<EntryParams>;
  private readonly leaveSet: Stmt<[string], { token: string }>;
  private readonly revokeEntry: Stmt<{ tokenId: string; at: number }>;
  private readonly revokeAbsentIds: Stmt<{ ids: string; at: number }>;
  private readonly revokeAbsentEntries: Stmt<{ ids: string; at: number }>;
  private readonly emptySet: Stmt<[]>;
  private readonly stager: CodeBatchStager;
  private readonly sliceBudgetMs: number;
  private readonly yieldToLoop: () => Promise<void>;
  /** The tail of the queue of sliced applies (they never interleave). */
  private queue: Promise<unknown> = Promise.resolve();
  private slicedInFlight = false;

  constructor(private readonly deps: CodeBatchApplierDeps) {
    const { db } = deps;
    this.sliceBudgetMs = deps.sliceBudgetMs ?? DEFAULT_SLICE_BUDGET_MS;
    this.yieldToLoop = deps.yieldToLoop ?? (() => nextTurn());
    this.stager = new CodeBatchStager(db, { sliceBudgetMs: this.sliceBudgetMs, yieldToLoop: this.yieldToLoop });
    const idsParam = '(SELECT value FROM json_each(?))';
    this.selectExisting = db.prepare<[string], ExistingRow>(
      // Rows staged by this batch are not existing entries: a second upsert of one of their
      // ids is a duplicate and must hit the primary key, not become an update.
      `SELECT token_id, token, in_set FROM code_entries WHERE token_id IN ${idsParam} AND ${VISIBLE_ENTRY}`,
    );
    // Lets two entries swap codes inside one batch without tripping the unique index.
    this.clearDigests = db.prepare<[string]>(`UPDATE code_entries SET code_digest = NULL WHERE token_id IN ${idsParam}`);
    // A new pickup entry for a parcel this locker already holds (the backend re-issued its
    // token: key revocation, an older backend's re-slot) is live at once, in the compartment
    // the parcel is really in: the predecessor was deposited there and the compartment still
    // holds that parcel. Otherwise the parcel would wait for a second deposit that never comes.
    this.insertEntry = db.prepare(
      `INSERT INTO code_entries (token_id, token, code_digest, parcel_id, compartment_id, current_compartment_id, size, kind,
                                 state, in_set, received_at, updated_at, deposited_at)
       SELECT @tokenId, @token, @codeDigest, @parcelId, @compartmentId, COALESCE(held.compartment_id, @compartmentId), @size, @kind,
               CASE WHEN EXISTS (SELECT 1 FROM revoked_tokens WHERE token_id = @tokenId) THEN 'revoked'
                    WHEN @kind = 'return-dropoff' THEN 'live'
                    WHEN held.compartment_id IS NOT NULL THEN 'live'
                    ELSE 'awaiting-deposit' END,
               1, @at, @at, held.deposited_at
         FROM (SELECT 1) LEFT JOIN (
               SELECT p.current_compartment_id AS compartment_id, p.deposited_at AS deposited_at
                 FROM code_entries p JOIN compartments c ON c.id = p.current_compartment_id AND c.parcel_id = p.parcel_id
                WHERE @kind = 'pickup' AND p.parcel_id = @parcelId AND p.kind = 'pickup' AND p.token_id <> @tokenId
                  AND p.deposited_at IS NOT NULL AND p.state IN ('live', 'revoked')
                ORDER BY p.deposited_at DESC LIMIT 1) held`,
    );
    this.updateEntry = db.prepare(
      `UPDATE code_entries
          SET token = @token, code_digest = @codeDigest, parcel_id = @parcelId, compartment_id = @compartmentId,
              current_compartment_id = CASE WHEN state = 'awaiting-deposit' THEN @compartmentId ELSE current_compartment_id END,
              size = @size, kind = @kind, in_set = 1, updated_at = @at
        WHERE token_id = @tokenId`,
    );
    this.leaveSet = db.prepare<[string], { token: string }>(
      'UPDATE code_entries SET in_set = 0 WHERE token_id = ? AND in_set = 1 RETURNING token',
    );
    const terminal = `state IN ('collected', 'retrieved', 'revoked')`;
    this.revokeEntry = db.prepare(
      `UPDATE code_entries
          SET closed_at = CASE WHEN ${terminal} THEN closed_at ELSE @at END,
              state = CASE WHEN ${terminal} THEN state ELSE 'revoked' END,
              updated_at = @at
        WHERE token_id = @tokenId`,
    );
    const absent = `state IN ('awaiting-deposit', 'live') AND token_id NOT IN (SELECT value FROM json_each(@ids))`;
    this.revokeAbsentIds = db.prepare(
      `INSERT INTO revoked_tokens (token_id, reason, revoked_at)
       SELECT token_id, 'absent-from-snapshot', @at FROM code_entries WHERE ${absent}
       ON CONFLICT (token_id) DO NOTHING`,
    );
    this.revokeAbsentEntries = db.prepare(
      `UPDATE code_entries SET state = 'revoked', closed_at = @at, updated_at = @at WHERE ${absent}`,
    );
    // Not this batch's staged rows: they are the new set (the version has not moved yet).
    this.emptySet = db.prepare<[]>(`UPDATE code_entries SET in_set = 0 WHERE in_set = 1 AND ${VISIBLE_ENTRY}`);
  }

  /** Everything in one synchronous transaction. */
  apply(batch: CodeBatch): BatchApplyResult {
    if (this.slicedInFlight) {
      throw new DeviceError('STORE_STATE_CONFLICT', 'a code batch is being applied in slices', { toVersion: batch.toVersion });
    }
    const state = this.deps.meta.codeSetState();
    const refused = this.precheck(batch, state);
    if (refused !== undefined) return refused;
    const hashes = this.deps.hasher.begin(batch.upserts);
    return this.switchVersion(batch, state, batch.upserts, hashes, () => this.stager.dropLeftoversNow(state.version));
  }

  /** New entries staged in short transactions, then one short switching transaction. */
  applyInSlices(batch: CodeBatch): Promise<BatchApplyResult> {
    const run = this.queue.then(() => this.sliced(batch));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async sliced(batch: CodeBatch): Promise<BatchApplyResult> {
    const state = this.deps.meta.codeSetState();
    const refused = this.precheck(batch, state);
    if (refused !== undefined) return refused;
    this.slicedInFlight = true;
    let pacer: WalPacer | undefined;
    try {
      if (batch.upserts.length >= MIN_PACED_ENTRIES) {
        const everySlices = this.deps.checkpointEverySlices ?? DEFAULT_CHECKPOINT_EVERY_SLICES;
        pacer = new WalPacer(this.deps.db, { everySlices, yieldToLoop: this.yieldToLoop });
      }
      const started = performance.now();
      // Whatever ran in this turn (the message's parse, the checks above) is not a slice's.
      await this.yieldToLoop();
      const dropped = await this.stager.dropLeftovers(state.version);
      if (dropped > 0) this.deps.logger.warn({ dropped, version: state.version }, 'code_batch.staged_leftovers_dropped');
      const xor = await xorEntryHashesInSlices(batch.upserts, this.sliceBudgetMs, this.yieldToLoop);
      const deferred = await this.stager.stage(batch.upserts, batch.toVersion, this.deps.now(), { afterCommit: () => pacer?.afterCommit() });
      await pacer?.flush();
      const staged = batch.upserts.length - deferred.length;
      const result = this.switchVersion(batch, state, deferred, { wait: () => xor, settled: () => Promise.resolve(xor) }, undefined, {
        staged, stagingMs: Math.round(performance.now() - started),
      });
      // A rejected switch leaves this batch's staged rows behind: invisible, but holding
      // token ids and code digests. Dropped now; the next batch would drop them anyway.
      if (result.outcome !== 'applied' && staged > 0) await this.stager.dropLeftovers(state.version);
      return result;
    } finally {
      pacer?.end();
      this.slicedInFlight = false;
    }
  }

  /** Checks that need no write. Returns the outcome when the batch must not be applied. */
  private precheck(batch: CodeBatch, state: CodeSetState): BatchApplyResult | undefined {
    const log = this.deps.logger;
    const summary = { kind: batch.kind, fromVersion: batch.fromVersion, toVersion: batch.toVersion, version: state.version };
    if (batch.lockerId !== this.deps.lockerId) return this.rejected(state, 'batch is for another locker', summary);
    if (batch.toVersion <= state.version) {
      log.info(summary, 'code_batch.stale');
      return { outcome: 'stale', state };
    }
    if (batch.kind === 'delta' && batch.fromVersion !== state.version) {
      log.warn(summary, 'code_batch.gap');
      return { outcome: 'gap', state };
    }
    const problem = findBatchContentProblem(batch, this.deps.lockerId);
    if (problem !== undefined) return this.rejected(state, problem, summary);
    const rebind = findPinnedRebind(this.deps.pinnedKeys ?? [], batch.keyring);
    if (rebind !== undefined) {
      // Someone who can sign batches tries to swap a key the board was installed with.
      this.deps.audit.append('code-batch.keyring-rebind-refused', 'priority', {
        kid: rebind.kid,
        publicKey: rebind.publicKey,
        kind: batch.kind,
        fromVersion: batch.fromVersion,
        toVersion: batch.toVersion,
        version: state.version,
      });
      return this.rejected(state, `keyring: kid ${rebind.kid} is trusted by the device config with another public key`, summary);
    }
    return undefined;
  }

  /** The one transaction that switches the version (all of a batch, or what staging left). */
  private switchVersion(
    batch: CodeBatch,
    state: CodeSetState,
    rows: readonly CodeEntry[],
    hashes: PendingXor,
    before?: () => void,
    logFields: object = {},
  ): BatchApplyResult {
    const log = this.deps.logger;
    const summary = { kind: batch.kind, fromVersion: batch.fromVersion, toVersion: batch.toVersion, version: state.version };
    const started = performance.now();
    try {
      const applied = this.deps.db.transaction(() => {
        before?.();
        return this.write(batch, state, rows, hashes);
      })();
      log.info(
        { ...summary, ...logFields, upserts: batch.upserts.length, revocations: batch.revocations.length, ms: Math.round(performance.now() - started) },
        'code_batch.applied',
      );
      return { outcome: 'applied', state: applied };
    } catch (err) {
      if (err instanceof BatchRejected) return this.rejected(state, err.reason, summary);
      // The constraints are the uniqueness checks (see code-batch-content.ts).
      if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') return this.rejected(state, 'duplicate token id among upserts', summary);
      if (isUniqueViolation(err)) return this.rejected(state, 'duplicate code digest among open entries', summary);
      throw err;
    }
  }

  private rejected(state: CodeSetState, reason: string, summary: object): BatchApplyResult {
    this.deps.logger.warn({ ...summary, reason }, 'code_batch.rejected');
    return { outcome: 'rejected', reason, state };
  }

  /**
   * Runs inside the transaction; throws to roll everything back. `rows` are the upserts to
   * write here (all of them, or those staging deferred); `upsertHashes` covers every upsert
   * of the batch, since each enters the digest with its new token.
   */
  private write(batch: CodeBatch, before: CodeSetState, rows: readonly CodeEntry[], upsertHashes: PendingXor): CodeSetState {
    const at = this.deps.now();
    for (const change of batch.keyring) {
      const refusal = this.deps.keyring.apply(change, at);
      if (refusal !== undefined) throw new BatchRejected(refusal);
    }

    let digest: CodeSetAccumulator;
    if (batch.kind === 'snapshot') {
      const ids = JSON.stringify(batch.upserts.map((e) => e.tokenId));
      this.revokeAbsentIds.run({ ids, at });
      this.revokeAbsentEntries.run({ ids, at });
      this.emptySet.run();
      digest = new CodeSetAccumulator(EMPTY_CODE_SET_DIGEST);
    } else {
      digest = new CodeSetAccumulator(before.digest);
    }

    for (const r of batch.revocations) {
      this.deps.tokens.revoke(r.tokenId, r.reason, at);
      const left = this.leaveSet.get(r.tokenId);
      if (left !== undefined) digest.toggle(r.tokenId, left.token);
      this.revokeEntry.run({ tokenId: r.tokenId, at });
    }

    this.upsert(rows, digest, at);
    digest.xor(upsertHashes.wait());

    const after: CodeSetState = { version: batch.toVersion, digest: digest.hex() };
    this.deps.meta.setCodeSet(after);
    this.deps.audit.append('code-batch.applied', batch.keyring.length > 0 ? 'priority' : 'normal', {
      kind: batch.kind,
      fromVersion: batch.fromVersion,
      toVersion: batch.toVersion,
      previousVersion: before.version,
      upserts: batch.upserts.length,
      revocations: batch.revocations.length,
      keyring: batch.keyring.map((k) => ({ op: k.op, kid: k.kid })),
      digest: after.digest,
    });
    return after;
  }

  /** Writes the rows and takes replaced tokens out of the digest; new ones go in via the hasher. */
  private upsert(entries: readonly CodeEntry[], digest: CodeSetAccumulator, at: number): void {
    if (entries.length === 0) return;
    const existing = new Map<string, ExistingRow>();
    for (const row of this.selectExisting.iterate(JSON.stringify(entries.map((e) => e.tokenId)))) {
      existing.set(row.token_id, row);
    }
    if (existing.size > 0) this.clearDigests.run(JSON.stringify([...existing.keys()]));
    // Updates first: they may free codes that new entries of the same batch take over.
    if (existing.size > 0) {
      const updated = new Set<string>();
      for (const e of entries) {
        const old = existing.get(e.tokenId);
        if (old === undefined) continue;
        // New ids repeated in the batch hit the primary key; existing ones are caught here.
        if (updated.has(e.tokenId)) throw new BatchRejected('duplicate token id among upserts');
        updated.add(e.tokenId);
        if (old.in_set === 1) digest.toggle(old.token_id, old.token);
        this.updateEntry.run(entryParams(e, at));
      }
    }
    for (const e of entries) {
      if (existing.has(e.tokenId)) continue;
      this.insertEntry.run(entryParams(e, at));
    }
  }
}
