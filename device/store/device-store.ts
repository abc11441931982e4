import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import type { AuditEventData, AuditEventType } from '@locker/contract/audit-events/index.js';
import { AuditLog, type InvalidEventPolicy, type SecretKeyPolicy } from '../audit/audit-log.js';
import { DeviceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditLane, AuditRecord, BatchApplyResult, CodeSetState, StoredCommandReply } from '@locker/sync-agent/device-sync-port.js';
import type { CompartmentSize, TokenPurpose } from '@locker/contract/tokens/claims.js';
import { CodeBatchApplier } from './code-batch-applier.js';
import { CodeEntryRepository } from './code-entry-repository.js';
import { CommandLog } from './command-log.js';
import { CompartmentRepository } from './compartment-repository.js';
import { KeyringRepository } from './keyring-repository.js';
import { MetaRepository, type ClockTrustRow } from './meta-repository.js';
import { migrate } from './migrations.js';
import { HistoryRetention, type RetentionOptions, type RetentionResult } from './history-retention.js';
import { closeDatabase, openDatabase, type SqliteDatabase } from './open-database.js';
import { OpenJournal } from './open-journal.js';
import { ParallelEntryHasher } from './parallel-entry-hasher.js';
import { ensureIncrementalVacuum, reclaimFreePages } from './incremental-vacuum.js';
import { openFailure } from './sqlite-errors.js';
import { guardCorruption, type CorruptionReport } from './corruption-guard.js';
import { writeCorruptionSentinel } from './corruption-sentinel.js';
import type {
  AuditChainCheck, CompartmentRow, CompartmentStatus, KeyringRow, OpenOperation, OpenOutcome, RuntimeStore, StoredCodeEntry,
} from './runtime-store.js';
import { StateBlobs } from './state-blobs.js';
import type { PinnedKey } from '@locker/contract/tokens/keyring.js';
import { registerTokenExpiryFunction } from './token-expiry.js';
import { TokenSets } from './token-sets.js';

export interface DeviceStoreOptions {
  /** The SQLite file; created on first start. */
  path: string;
  /** This locker's id: a file that belongs to another locker is refused (DB_LOCKER_MISMATCH). */
  lockerId: string;
  logger: Logger;
  /**
   * Trusted time, epoch ms (integer): the `at` of every audit record and the timestamp of
   * rows the store stamps itself (batch receipt, command start, acks). The runtime passes
   * its clock-trust policy's notion of now; tests pass a fake clock.
   */
  now: () => number;
  /** Default: 'redact' when NODE_ENV=production, else 'throw' (tests find the bug). */
  auditSecretKeys?: SecretKeyPolicy;
  /** Data its event schema refuses. Default: 'record' when NODE_ENV=production, else 'throw'. */
  auditInvalidEvents?: InvalidEventPolicy;
  busyTimeoutMs?: number;
  integrityCheckMaxBytes?: number;
  /** SQLite page cache in KiB (default 4096; see open-database.ts cacheSizeKib). */
  cacheSizeKib?: number;
  /** Hash batch entries on a worker thread while rows are written (default true). */
  parallelDigest?: boolean;
  /**
   * The device config's trusted keys (`trustedKeys`): no code batch may bind one of these
   * kids to another public key (rejected whole, audited). Default: none.
   */
  trustedKeys?: readonly PinnedKey[];
  /** Wall time one staging slice of applyCodeBatchInSlices may take (default 2 ms). */
  batchSliceBudgetMs?: number;
  /** Staging slices between two WAL checkpoints of a large sliced apply (default 2; 0: autocheckpoint). */
  batchCheckpointEverySlices?: number;
  /**
   * The first corruption (SQLITE_CORRUPT*, SQLITE_NOTADB) a store call meets at runtime;
   * the device process exits on it (main.ts). Either way the store refuses every later
   * call with DB_CORRUPT (corruption-guard.ts).
   */
  onCorrupt?: (report: CorruptionReport) => void;
}

/**
 * Opens (creating or migrating) the device database and returns the store. Fails closed:
 * DB_UNREADABLE, DB_CORRUPT, DB_DURABILITY, DB_MIGRATION or DB_LOCKER_MISMATCH, never an
 * empty store in place of an unusable file.
 */
export function openDeviceStore(options: DeviceStoreOptions): DeviceStore {
  const db = openDatabase({
    path: options.path,
    logger: options.logger,
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    ...(options.integrityCheckMaxBytes === undefined ? {} : { integrityCheckMaxBytes: options.integrityCheckMaxBytes }),
    ...(options.cacheSizeKib === undefined ? {} : { cacheSizeKib: options.cacheSizeKib }),
  });
  try {
    migrate(db);
    ensureIncrementalVacuum(db, options.logger.child({ component: 'device-db' }));
    const meta = new MetaRepository(db);
    db.transaction(() => meta.claim(options.lockerId, options.now()))();
    const hasher = new ParallelEntryHasher(options.logger.child({ component: 'entry-hasher' }));
    if (options.parallelDigest !== false) hasher.start();
    const store = new DeviceStore(db, meta, hasher, options);
    const onCorrupt = (report: CorruptionReport): void => {
      // Before the report: the process exits on it (main.ts), and the restart must run the full check.
      const written = writeCorruptionSentinel(options.path, { sqliteCode: report.sqliteCode, where: report.where, at: Date.now() });
      if (!written) options.logger.child({ component: 'device-db' }).error({ path: options.path }, 'db.corruption-sentinel-failed');
      options.onCorrupt?.(report);
    };
    return guardCorruption(store, { onCorrupt, closeUnmarked: () => store.abandon() });
  } catch (err) {
    db.close();
    throw openFailure(err, options.path, 'migrate');
  }
}

/** RuntimeStore on one SQLite file, composed of one small repository per concern. */
export class DeviceStore implements RuntimeStore {
  readonly lockerId: string;
  private epoch: string;
  private readonly now: () => number;
  private readonly entries: CodeEntryRepository;
  private readonly batches: CodeBatchApplier;
  private readonly tokens: TokenSets;
  private readonly keyring: KeyringRepository;
  private readonly compartments: CompartmentRepository;
  private readonly journal: OpenJournal;
  private readonly commands: CommandLog;
  private readonly blobs: StateBlobs;
  private readonly audit: AuditLog;
  private readonly retention: HistoryRetention;

  /** Use openDeviceStore(): it opens, checks and migrates the file first. */
  constructor(
    private readonly db: SqliteDatabase,
    private readonly meta: MetaRepository,
    private readonly hasher: ParallelEntryHasher,
    options: DeviceStoreOptions,
  ) {
    this.lockerId = options.lockerId;
    this.epoch = meta.dbEpoch();
    this.now = options.now;
    const logger = options.logger.child({ component: 'device-store' });
    registerTokenExpiryFunction(db);
    this.entries = new CodeEntryRepository(db);
    this.tokens = new TokenSets(db);
    const pinnedKeys = (options.trustedKeys ?? []).map((k) => ({ kid: k.kid, publicKey: k.publicKey }));
    this.keyring = new KeyringRepository(db, pinnedKeys);
    this.compartments = new CompartmentRepository(db);
    this.journal = new OpenJournal(db);
    this.commands = new CommandLog(db);
    this.blobs = new StateBlobs(db);
    this.retention = new HistoryRetention(db);
    const production = process.env['NODE_ENV'] === 'production';
    const secretKeys = options.auditSecretKeys ?? (production ? 'redact' : 'throw');
    const invalidEvents = options.auditInvalidEvents ?? (production ? 'record' : 'throw');
    this.audit = new AuditLog({ db, meta, now: options.now, secretKeys, invalidEvents, logger: logger.child({ component: 'audit-log' }) });
    this.batches = new CodeBatchApplier({
      db, lockerId: options.lockerId, meta, tokens: this.tokens, keyring: this.keyring, audit: this.audit, hasher, now: options.now,
      logger: logger.child({ component: 'code-batch' }), pinnedKeys,
      ...(options.batchSliceBudgetMs === undefined ? {} : { sliceBudgetMs: options.batchSliceBudgetMs }),
      ...(options.batchCheckpointEverySlices === undefined ? {} : { checkpointEverySlices: options.batchCheckpointEverySlices }),
    });
  }

  get dbEpoch(): string {
    return this.epoch;
  }

  renewDbEpoch(evidence: { reason: string; conflictAt: number }): string {
    return this.transaction(() => {
      const previousEpoch = this.epoch;
      const epoch = this.meta.renewDbEpoch();
      this.audit.append('device.epoch-renewed', 'priority', { previousEpoch, epoch, reason: evidence.reason, highSeq: this.audit.highWatermark(), conflictAt: evidence.conflictAt });
      this.epoch = epoch;
      return epoch;
    });
  }

  /** better-sqlite3 transaction: nested calls become savepoints; a throw rolls back. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    this.hasher.stop();
    closeDatabase(this.db);
  }

  /** Closes a file found corrupt: no clean-shutdown marker, so the next open checks it (and refuses it). */
  abandon(): void {
    this.hasher.stop();
    try {
      if (this.db.open) this.db.close();
    } catch {
      // Damaged beyond closing: the process exit releases it.
    }
  }

  /** Deletes history that protects nothing any more (history-retention.ts); token ids against the clock floor, on a confirmed clock only. */
  pruneHistory(options: RetentionOptions): RetentionResult {
    const trust = this.meta.clockTrust();
    return this.retention.prune(options, { now: this.now(), floor: trust.floorMs, confirmed: trust.confirmed });
  }

  /** Returns up to `maxPages` free pages to the file system (incremental-vacuum.ts). */
  reclaimSpace(maxPages: number): number {
    return reclaimFreePages(this.db, maxPages);
  }

  /**
   * Copies the WAL into the database file and truncates it. Not needed for correctness:
   * journal_size_limit already caps the WAL at 8 MiB from the next write after a large
   * batch. For the runtime to call when idle, or before a backup copy of the file.
   */
  checkpoint(): void {
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** The underlying connection, for maintenance and tests only (checkpoint, integrity). */
  get database(): SqliteDatabase {
    return this.db;
  }

  // Compartments
  syncCompartmentLayout(layout: ReadonlyArray<{ id: string; size: CompartmentSize }>): void {
    this.compartments.syncLayout(layout, this.now());
  }
  listCompartments(): CompartmentRow[] {
    return this.compartments.list();
  }
  getCompartment(id: string): CompartmentRow | undefined {
    return this.compartments.get(id);
  }
  setCompartmentStatus(id: string, status: CompartmentStatus, details: { parcelId?: string; reason?: string } = {}): void {
    this.compartments.setStatusOf(id, status, details, this.now());
  }
  recordCompartmentFailure(id: string): number {
    return this.compartments.recordFailure(id, this.now());
  }
  resetCompartmentFailures(id: string): void {
    this.compartments.resetFailures(id, this.now());
  }

  // Code set
  codeSetState(): CodeSetState {
    return this.meta.codeSetState();
  }
  /** One synchronous transaction (seeding, tools, tests). */
  applyCodeBatch(batch: CodeBatch): BatchApplyResult {
    return this.batches.apply(batch);
  }
  /** Staged in short transactions, switched in one short one: the keypad keeps working. */
  applyCodeBatchInSlices(batch: CodeBatch): Promise<BatchApplyResult> {
    return this.batches.applyInSlices(batch);
  }
  findEntryByCodeDigest(codeDigest: string): StoredCodeEntry | undefined {
    return this.entries.findByCodeDigest(codeDigest);
  }
  findEntryByTokenId(tokenId: string): StoredCodeEntry | undefined {
    return this.entries.findByTokenId(tokenId);
  }
  findEntriesByParcel(parcelId: string): StoredCodeEntry[] {
    return this.entries.findByParcel(parcelId);
  }
  findEntriesInCompartment(compartmentId: string): StoredCodeEntry[] {
    return this.entries.findLiveInCompartment(compartmentId);
  }
  reservedCompartments(exceptTokenId: string): Set<string> {
    return this.entries.reservedCompartments(exceptTokenId);
  }
  markDeposited(tokenId: string, compartmentId: string, at: number): void {
    this.entries.markDeposited(tokenId, compartmentId, at);
  }
  markCollected(tokenId: string, at: number): void {
    this.entries.markClosed(tokenId, 'collected', at);
  }
  markExpired(tokenId: string, at: number): void {
    this.entries.markClosed(tokenId, 'expired', at);
  }
  markRetrieved(tokenId: string, at: number): void {
    this.entries.markClosed(tokenId, 'retrieved', at);
  }
  liveCodeCount(): number {
    return this.entries.liveCount(this.meta.codeSetState().version);
  }
  keypadCodeCounts(): { live: number; awaitingDeposit: number } {
    return this.entries.keypadCodeCounts(this.meta.codeSetState().version);
  }
  keypadCodeCountUpTo(limit: number): number {
    return this.entries.keypadCodeCountUpTo(this.meta.codeSetState().version, limit);
  }
  isTokenRevoked(tokenId: string): boolean {
    return this.tokens.isRevoked(tokenId);
  }

  // Replay set
  isTokenUsed(tokenId: string): boolean {
    return this.tokens.isUsed(tokenId);
  }
  markTokenUsed(tokenId: string, purpose: TokenPurpose, at: number, expiresAt?: number): void {
    this.tokens.markUsed(tokenId, purpose, at, expiresAt);
  }

  keyringRows(): KeyringRow[] {
    return this.keyring.rows();
  }

  loadState(key: string): string | undefined {
    return this.blobs.load(key);
  }
  saveState(key: string, json: string): void {
    this.blobs.save(key, json, this.now());
  }

  clockFloor(): number {
    return this.meta.clockFloor();
  }
  raiseClockFloor(epochMs: number): boolean {
    if (!Number.isSafeInteger(epochMs) || epochMs < 0) {
      throw new DeviceError('INTERNAL', 'clock floor must be integer epoch ms', { epochMs });
    }
    return this.meta.raiseClockFloor(epochMs);
  }
  clockTrust(): ClockTrustRow {
    return this.meta.clockTrust();
  }
  saveClockTrust(trust: ClockTrustRow): boolean {
    for (const ms of [trust.floorMs, trust.signedMaxMs]) {
      if (!Number.isSafeInteger(ms) || ms < 0) throw new DeviceError('INTERNAL', 'clock trust times must be integer epoch ms', { ms });
    }
    return this.meta.saveClockTrust(trust);
  }

  // Open journal
  beginOpen(op: OpenOperation): void {
    this.journal.begin(op);
  }
  finishOpen(opId: string, outcome: OpenOutcome, at: number): void {
    this.journal.finishOp(opId, outcome, at);
  }
  unfinishedOpens(): OpenOperation[] {
    return this.journal.listUnfinished();
  }

  // Audit
  appendAudit<T extends AuditEventType>(type: T, lane: AuditLane, data: AuditEventData<T>): AuditRecord {
    return this.audit.append(type, lane, data);
  }
  /** Not in RuntimeStore: tests only (a record no contract event could carry). See AuditLog.appendUnchecked. */
  appendUncheckedAudit(type: string, lane: AuditLane, data: Record<string, unknown>): AuditRecord {
    return this.audit.appendUnchecked(type, lane, data);
  }
  countSuppressedRejection(): void {
    this.meta.countSuppressedRejection();
  }
  suppressedRejections(): number {
    return this.meta.suppressedRejections();
  }
  appendRejectionAudit(lane: AuditLane, data: AuditEventData<'sync.message-rejected'>): AuditRecord {
    return this.transaction(() => {
      const suppressed = this.meta.suppressedRejections();
      const record = this.audit.append('sync.message-rejected', lane, suppressed > 0 ? { ...data, suppressedBefore: suppressed } : data);
      if (suppressed > 0) this.meta.clearSuppressedRejections();
      return record;
    });
  }
  verifyAuditChain(): AuditChainCheck {
    return this.audit.verify();
  }
  auditHashAt(seq: number): string | undefined {
    return this.audit.hashAt(seq);
  }
  auditHighWatermark(): number {
    return this.audit.highWatermark();
  }
  auditAckedWatermark(): number {
    return this.audit.ackedWatermark();
  }
  readUnackedAudit(options: { lane: AuditLane; afterSeq: number; limit: number }): AuditRecord[] {
    return this.audit.readUnacked(options);
  }
  acknowledgeAudit(ack: { contiguousSeq: number; alsoSeqs: readonly number[] }): void {
    this.audit.acknowledge(ack);
  }
  pruneAcknowledgedAudit(olderThanMs: number): number {
    return this.audit.prune(olderThanMs);
  }

  // Commands
  findCommandReply(transactionId: string): StoredCommandReply | undefined {
    return this.commands.find(transactionId);
  }
  beginCommand(transactionId: string, kind: string, expiresAt: number): void {
    this.commands.begin(transactionId, kind, expiresAt, this.now());
  }
  completeCommand(transactionId: string, replyJson: string): void {
    this.commands.completeWith(transactionId, replyJson, this.now());
  }
  unfinishedCommands(): Array<{ transactionId: string; kind: string; startedAt: number }> {
    return this.commands.listUnfinished();
  }
}
