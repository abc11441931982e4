import { parseAuditEventData, type AuditEventData, type AuditEventType } from '@locker/contract/audit-events/index.js';
import { DeviceError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuditChainCheck } from '../store/runtime-store.js';
import type { MetaRepository } from '../store/meta-repository.js';
import type { SqliteDatabase, Stmt } from '../store/open-database.js';
import type { AuditLane, AuditRecord } from '@locker/sync-agent/device-sync-port.js';
import { verifyAuditChain } from '@locker/contract/audit/audit-chain.js';
import { findSecretKey, redactSecretKeys } from './audit-data-guard.js';
import { auditRecordHash } from '@locker/contract/audit/audit-hash.js';

// The tamper-evident audit log, which is also the upload outbox (see sync-port.ts).
// Append-only: rows are never updated except for the acked flag, and only a contiguous,
// acknowledged prefix is ever deleted. When a prefix is pruned the last pruned record's
// seq and hash are kept in meta (the "anchor"), so the retained records still verify from
// a known prevHash and the next append still chains on after a fully pruned log.
//
// `at` is the store's injected clock (the runtime passes its trusted-time source), read
// once per record; the tail is read from the database each time, never cached, so an
// append inside a transaction that rolls back leaves no stale tail behind.

/** What appendAudit does with data carrying a key named code/token/pin. */
export type SecretKeyPolicy = 'throw' | 'redact';

/**
 * What appendAudit does with data its type's contract schema refuses (a programming
 * error: the compiler already checks the shape, so this catches casts and spreads).
 * 'throw' fails loudly (tests); 'record' logs audit.invalid_event and still writes the
 * record as given, because losing an audit record is worse than an odd one: the backend
 * keeps it for review.
 */
export type InvalidEventPolicy = 'throw' | 'record';

interface AuditRow {
  seq: number;
  at: number;
  type: string;
  lane: AuditLane;
  data_json: string;
  prev_hash: string;
  hash: string;
}

const COLUMNS = 'seq, at, type, lane, data_json, prev_hash, hash';
const MAX_TYPE_LENGTH = 64;

function toRecord(r: AuditRow): AuditRecord {
  return { seq: r.seq, at: r.at, type: r.type, lane: r.lane, dataJson: r.data_json, prevHash: r.prev_hash, hash: r.hash };
}

/** Streams rows as records, so verifying a long log never holds it all in memory. */
function* records(rows: Iterable<AuditRow>): Generator<AuditRecord> {
  for (const r of rows) yield toRecord(r);
}

export interface AuditLogDeps {
  db: SqliteDatabase;
  meta: MetaRepository;
  now: () => number;
  secretKeys: SecretKeyPolicy;
  invalidEvents: InvalidEventPolicy;
  logger: Logger;
}

export class AuditLog {
  private readonly tail: Stmt<[], { seq: number; hash: string }>;
  private readonly insert: Stmt<[number, number, string, string, string, string, string]>;
  private readonly all: Stmt<[], AuditRow>;
  private readonly unacked: Stmt<[string, number, number], AuditRow>;
  private readonly ackUpTo: Stmt<[number, number, number]>;
  private readonly ackOne: Stmt<[number, number]>;
  private readonly firstUnacked: Stmt<[], { seq: number | null }>;
  private readonly lastOldUpTo: Stmt<[number, number], { seq: number }>;
  private readonly hashOf: Stmt<[number], { hash: string }>;
  private readonly deleteUpTo: Stmt<[number]>;

  constructor(private readonly deps: AuditLogDeps) {
    const { db } = deps;
    this.tail = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    this.insert = db.prepare<[number, number, string, string, string, string, string]>(
      `INSERT INTO audit_log (${COLUMNS}, acked) VALUES (?, ?, ?, ?, ?, ?, ?, 0)`,
    );
    this.all = db.prepare<[], AuditRow>(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq`);
    this.unacked = db.prepare<[string, number, number], AuditRow>(
      `SELECT ${COLUMNS} FROM audit_log WHERE lane = ? AND acked = 0 AND seq > ? ORDER BY seq LIMIT ?`,
    );
    // From the acked watermark up: everything at or below it is acked already, and without
    // the lower bound every ack walked the whole retained log.
    this.ackUpTo = db.prepare<[number, number, number]>('UPDATE audit_log SET acked = 1, acked_at = ? WHERE seq > ? AND seq <= ? AND acked = 0');
    this.ackOne = db.prepare<[number, number]>('UPDATE audit_log SET acked = 1, acked_at = ? WHERE seq = ? AND acked = 0');
    // Per lane, so each half walks the partial outbox index instead of the acked history.
    this.firstUnacked = db.prepare<[], { seq: number | null }>(
      `SELECT min(seq) AS seq FROM (
         SELECT min(seq) AS seq FROM audit_log WHERE lane = 'priority' AND acked = 0
         UNION ALL SELECT min(seq) FROM audit_log WHERE lane = 'normal' AND acked = 0)`,
    );
    // Walks back from the acked watermark to the newest old record: it passes only what one
    // retention period added, the young acked records (no index on at).
    this.lastOldUpTo = db.prepare<[number, number], { seq: number }>('SELECT seq FROM audit_log WHERE seq <= ? AND at < ? ORDER BY seq DESC LIMIT 1');
    this.hashOf = db.prepare<[number], { hash: string }>('SELECT hash FROM audit_log WHERE seq = ?');
    this.deleteUpTo = db.prepare<[number]>('DELETE FROM audit_log WHERE seq <= ?');
  }

  /** Appends one event of the audit contract (sync/contract/audit-events), checked against its schema. */
  append<T extends AuditEventType>(type: T, lane: AuditLane, data: AuditEventData<T>): AuditRecord {
    const check = parseAuditEventData(type, data);
    if (!check.ok) {
      if (this.deps.invalidEvents === 'throw') {
        throw new DeviceError('INTERNAL', `audit data does not match the ${type} schema: ${check.detail}`, { type, detail: check.detail });
      }
      this.deps.logger.error({ type, detail: check.detail }, 'audit.invalid_event');
    }
    return this.write(type, lane, data);
  }

  /**
   * Appends a record of any type without the contract check: for tests that need what no
   * real event carries (a 600 kB record, a type the backend has never heard of).
   */
  appendUnchecked(type: string, lane: AuditLane, data: Record<string, unknown>): AuditRecord {
    return this.write(type, lane, data);
  }

  private write(type: string, lane: AuditLane, data: object): AuditRecord {
    if (type.length === 0 || type.length > MAX_TYPE_LENGTH || type.includes('\n')) {
      throw new DeviceError('INTERNAL', 'audit type must be 1-64 characters without newline', { type });
    }
    const dataJson = JSON.stringify(this.guard(type, data));
    const at = this.deps.now();
    if (!Number.isSafeInteger(at) || at < 0) throw new DeviceError('INTERNAL', 'audit time must be integer epoch ms', { at });
    const last = this.tail.get() ?? this.deps.meta.auditAnchor();
    const seq = last.seq + 1;
    const hash = auditRecordHash(last.hash, seq, at, type, dataJson);
    this.insert.run(seq, at, type, lane, dataJson, last.hash, hash);
    return { seq, at, type, lane, dataJson, prevHash: last.hash, hash };
  }

  private guard(type: string, data: object): unknown {
    const key = findSecretKey(data);
    if (key === undefined) return data;
    // Names only: the value is exactly what must not appear anywhere.
    if (this.deps.secretKeys === 'throw') {
      throw new DeviceError('INTERNAL', 'audit data must not contain a code, token or pin', { type, key });
    }
    this.deps.logger.error({ type, key }, 'audit.secret_key_redacted');
    return redactSecretKeys(data);
  }

  /** Verifies the retained records from the anchor (genesis when nothing was pruned). */
  verify(): AuditChainCheck {
    const anchor = this.deps.meta.auditAnchor();
    const check = verifyAuditChain(records(this.all.iterate()), anchor.hash);
    if (check.ok && check.records > 0 && check.firstSeq !== anchor.seq + 1) {
      return { ok: false, brokenAtSeq: check.firstSeq, reason: 'sequence-gap' };
    }
    return check;
  }

  /** The hash of the record at `seq`, if it is still held (not pruned, written). */
  hashAt(seq: number): string | undefined {
    return this.hashOf.get(seq)?.hash;
  }

  highWatermark(): number {
    return (this.tail.get() ?? this.deps.meta.auditAnchor()).seq;
  }

  ackedWatermark(): number {
    return this.deps.meta.auditAckedSeq();
  }

  readUnacked(options: { lane: AuditLane; afterSeq: number; limit: number }): AuditRecord[] {
    const limit = Math.max(0, Math.trunc(options.limit));
    return this.unacked.all(options.lane, options.afterSeq, limit).map(toRecord);
  }

  /** Idempotent; a lower contiguousSeq than already acknowledged changes nothing. */
  acknowledge(ack: { contiguousSeq: number; alsoSeqs: readonly number[] }): void {
    const at = this.deps.now();
    this.deps.db.transaction(() => {
      const high = this.highWatermark();
      const contiguous = Math.min(ack.contiguousSeq, high);
      if (contiguous > 0) this.ackUpTo.run(at, this.deps.meta.auditAckedSeq(), contiguous);
      for (const seq of ack.alsoSeqs) this.ackOne.run(at, seq);
      // The watermark follows the first hole: acks of alsoSeqs may close it.
      const firstUnacked = this.firstUnacked.get()?.seq ?? null;
      const watermark = firstUnacked === null ? high : firstUnacked - 1;
      if (watermark > this.deps.meta.auditAckedSeq()) this.deps.meta.setAuditAckedSeq(watermark);
    })();
  }

  /**
   * Deletes acknowledged records older than `olderThanMs` (an age: at < now - olderThanMs),
   * as a contiguous prefix only, so the retained log is one unbroken chain from the anchor.
   * Seq order is the order records were written in, so a record is at least as old as any
   * later one: the prefix runs through the newest acknowledged record that is old. A record
   * stamped while the clock was ahead (a provisional clock later corrected down) is pruned
   * with the old records after it instead of holding back every later record for as long
   * as the clock was ahead, which could be years.
   */
  prune(olderThanMs: number): number {
    const cutoff = this.deps.now() - olderThanMs;
    return this.deps.db.transaction(() => {
      const acked = this.deps.meta.auditAckedSeq();
      const through = this.lastOldUpTo.get(acked, cutoff)?.seq ?? 0;
      const anchor = this.deps.meta.auditAnchor();
      if (through <= anchor.seq) return 0;
      const hash = this.hashOf.get(through)?.hash;
      if (hash === undefined) return 0;
      const deleted = this.deleteUpTo.run(through).changes;
      this.deps.meta.setAuditAnchor({ seq: through, hash });
      return deleted;
    })();
  }
}
