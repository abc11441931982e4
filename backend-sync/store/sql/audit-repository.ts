import type { AuditRecordRow, AuditReviewRecord } from '../records.js';
import type { AuditRepository } from '../store.js';
import { atomically, type SqlExecutor } from './sql-executor.js';
import { sql } from './sql-text.js';

// Uploaded locker audit records, one chain per (locker, device database epoch), with each
// chain's contiguous watermark and chain state, records that conflicted with a stored one,
// and the epoch each locker announced last. Several instances ingest uploads at once, so
// every change to a chain's state is one conditional upsert: the watermark only rises, the
// break marker only moves down, and a review counts once — whichever instance gets there
// first. (data_json is kept as the text the locker signed; the ingest validates it.)

interface AuditRow {
  locker_id: string;
  epoch: string;
  seq: number;
  at: number;
  type: string;
  lane: string;
  data_json: string;
  prev_hash: string;
  hash: string;
}

const auditOf = (r: AuditRow): AuditRecordRow => ({
  lockerId: r.locker_id,
  epoch: r.epoch,
  seq: r.seq,
  at: r.at,
  type: r.type,
  lane: r.lane,
  dataJson: r.data_json,
  prevHash: r.prev_hash,
  hash: r.hash,
});

interface ReviewRow {
  locker_id: string;
  epoch: string;
  seq: number;
  type: string;
  reason: AuditReviewRecord['reason'];
  detail: string;
  received_at: number;
}

const reviewOf = (r: ReviewRow): AuditReviewRecord => ({
  lockerId: r.locker_id,
  epoch: r.epoch,
  seq: r.seq,
  type: r.type,
  reason: r.reason,
  detail: r.detail,
  receivedAt: r.received_at,
});

const AUDIT_COLUMNS = 'locker_id, epoch, seq, at, type, lane, data_json, prev_hash, hash';
const REVIEW_COLUMNS = 'locker_id, epoch, seq, type, reason, detail, received_at';

const insert = sql(
  `INSERT INTO audit_records (locker_id, epoch, seq, at, type, lane, data_json, prev_hash, hash, received_at)
   VALUES (@lockerId, @epoch, @seq, @at, @type, @lane, @dataJson, @prevHash, @hash, @receivedAt)
   ON CONFLICT (locker_id, epoch, seq) DO NOTHING`,
);
const get = sql(`SELECT ${AUDIT_COLUMNS} FROM audit_records WHERE locker_id = ? AND epoch = ? AND seq = ?`);
const span = sql(`SELECT ${AUDIT_COLUMNS} FROM audit_records WHERE locker_id = ? AND epoch = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?`);
const countSpan = sql('SELECT count(*) AS n FROM audit_records WHERE locker_id = ? AND epoch = ? AND seq > ? AND seq <= ?');
const conflict = sql(
  `INSERT INTO audit_conflicts (locker_id, epoch, seq, hash, record_json, received_at) VALUES (?, ?, ?, ?, ?, ?)
   ON CONFLICT (locker_id, epoch, seq, hash) DO NOTHING`,
);
const hasConflict = sql('SELECT 1 AS found FROM audit_conflicts WHERE locker_id = ? AND epoch = ? AND seq = ? LIMIT 1');
const count = sql('SELECT count(*) AS n FROM audit_records WHERE locker_id = ?');
const countEpoch = sql('SELECT count(*) AS n FROM audit_records WHERE locker_id = ? AND epoch = ?');
const state = sql('SELECT contiguous_seq, chain_broken_at FROM audit_state WHERE locker_id = ? AND epoch = ?');
const anyBroken = sql('SELECT min(chain_broken_at) AS seq FROM audit_state WHERE locker_id = ?');
const raiseContiguous = sql(
  `INSERT INTO audit_state (locker_id, epoch, contiguous_seq) VALUES (?, ?, ?)
   ON CONFLICT (locker_id, epoch) DO UPDATE SET contiguous_seq = excluded.contiguous_seq
   WHERE audit_state.contiguous_seq < excluded.contiguous_seq`,
);
const capContiguous = sql('UPDATE audit_state SET contiguous_seq = @seq WHERE locker_id = @lockerId AND epoch = @epoch AND contiguous_seq > @seq');
const flag = sql(
  `INSERT INTO audit_state (locker_id, epoch, chain_broken_at) VALUES (?, ?, ?)
   ON CONFLICT (locker_id, epoch) DO UPDATE SET chain_broken_at = excluded.chain_broken_at
   WHERE audit_state.chain_broken_at IS NULL OR audit_state.chain_broken_at > excluded.chain_broken_at`,
);
const unprocessed = sql(
  `SELECT ${AUDIT_COLUMNS} FROM audit_records WHERE locker_id = @lockerId AND epoch = @epoch AND processed = 0
     AND (seq <= @upTo OR (@priority = 1 AND lane = 'priority')) ORDER BY seq`,
);
const markProcessed = sql('UPDATE audit_records SET processed = 1 WHERE locker_id = ? AND epoch = ? AND seq = ? AND processed = 0');
const currentEpoch = sql('SELECT epoch FROM locker_epochs WHERE locker_id = ?');
// Returns a row only when the epoch is new or differs: of two instances recording the same
// new epoch at once, exactly one learns it changed (the second waits on the row and then
// finds it equal).
const changeEpoch = sql(
  `INSERT INTO locker_epochs (locker_id, epoch, seen_at) VALUES (?, ?, ?)
   ON CONFLICT (locker_id) DO UPDATE SET epoch = excluded.epoch, seen_at = excluded.seen_at
   WHERE locker_epochs.epoch <> excluded.epoch
   RETURNING locker_id`,
);
const touchEpoch = sql('UPDATE locker_epochs SET seen_at = ? WHERE locker_id = ? AND epoch = ?');
// Every epoch that was ever current keeps a chain-state row, records or not: that row is how
// the backend later tells a superseded database from a new one (docs/decisions/0023).
const rememberEpoch = sql('INSERT INTO audit_state (locker_id, epoch) VALUES (?, ?) ON CONFLICT (locker_id, epoch) DO NOTHING');
const knownEpoch = sql(
  `SELECT 1 AS found FROM audit_state WHERE locker_id = ? AND epoch = ?
   UNION ALL SELECT 1 AS found FROM locker_epochs WHERE locker_id = ? AND epoch = ?`,
);
const review = sql(
  `INSERT INTO audit_review (locker_id, epoch, seq, type, reason, detail, received_at)
   VALUES (@lockerId, @epoch, @seq, @type, @reason, @detail, @receivedAt) ON CONFLICT (locker_id, epoch, seq) DO NOTHING`,
);
const countReview = sql(
  `INSERT INTO audit_state (locker_id, epoch, review_count) VALUES (?, ?, 1)
   ON CONFLICT (locker_id, epoch) DO UPDATE SET review_count = audit_state.review_count + 1`,
);
const reviewCount = sql('SELECT sum(review_count) AS n FROM audit_state WHERE locker_id = ?');
const reviewAll = sql(`SELECT ${REVIEW_COLUMNS} FROM audit_review ORDER BY received_at, locker_id, epoch, seq`);
const reviewOfLocker = sql(`SELECT ${REVIEW_COLUMNS} FROM audit_review WHERE locker_id = ? ORDER BY received_at, epoch, seq`);

export class SqlAuditRepository implements AuditRepository {
  constructor(private readonly x: SqlExecutor) {}

  keepForReview(r: AuditReviewRecord): Promise<boolean> {
    return atomically(this.x, async () => {
      const { lockerId, epoch, seq, type, reason, detail, receivedAt } = r;
      if ((await this.x.run(review, { lockerId, epoch, seq, type, reason, detail, receivedAt })) !== 1) return false;
      await this.x.run(countReview, [lockerId, epoch]);
      return true;
    });
  }

  async reviewList(lockerId?: string): Promise<AuditReviewRecord[]> {
    const rows = lockerId === undefined ? await this.x.all<ReviewRow>(reviewAll) : await this.x.all<ReviewRow>(reviewOfLocker, [lockerId]);
    return rows.map(reviewOf);
  }

  async reviewCount(lockerId: string): Promise<number> {
    return (await this.x.one<{ n: number | null }>(reviewCount, [lockerId]))?.n ?? 0;
  }

  async insert(r: AuditRecordRow, receivedAt: number): Promise<boolean> {
    const { lockerId, epoch, seq, at, type, lane, dataJson, prevHash, hash } = r;
    return (await this.x.run(insert, { lockerId, epoch, seq, at, type, lane, dataJson, prevHash, hash, receivedAt })) === 1;
  }

  async get(lockerId: string, epoch: string, seq: number): Promise<AuditRecordRow | undefined> {
    const r = await this.x.one<AuditRow>(get, [lockerId, epoch, seq]);
    return r === undefined ? undefined : auditOf(r);
  }

  async span(lockerId: string, epoch: string, afterSeq: number, upToSeq: number, limit: number): Promise<AuditRecordRow[]> {
    return (await this.x.all<AuditRow>(span, [lockerId, epoch, afterSeq, upToSeq, limit])).map(auditOf);
  }

  async countSpan(lockerId: string, epoch: string, afterSeq: number, upToSeq: number): Promise<number> {
    return (await this.x.one<{ n: number }>(countSpan, [lockerId, epoch, afterSeq, upToSeq]))?.n ?? 0;
  }

  async recordConflict(r: AuditRecordRow, receivedAt: number): Promise<void> {
    await this.x.run(conflict, [r.lockerId, r.epoch, r.seq, r.hash, JSON.stringify(r), receivedAt]);
  }

  async hasConflict(lockerId: string, epoch: string, seq: number): Promise<boolean> {
    return (await this.x.one(hasConflict, [lockerId, epoch, seq])) !== undefined;
  }

  async count(lockerId: string, epoch?: string): Promise<number> {
    const row = epoch === undefined ? await this.x.one<{ n: number }>(count, [lockerId]) : await this.x.one<{ n: number }>(countEpoch, [lockerId, epoch]);
    return row?.n ?? 0;
  }

  async contiguousSeq(lockerId: string, epoch: string): Promise<number> {
    return (await this.x.one<{ contiguous_seq: number }>(state, [lockerId, epoch]))?.contiguous_seq ?? 0;
  }

  async setContiguousSeq(lockerId: string, epoch: string, seq: number): Promise<void> {
    await this.x.run(raiseContiguous, [lockerId, epoch, seq]);
  }

  async capContiguousSeq(lockerId: string, epoch: string, seq: number): Promise<void> {
    await this.x.run(capContiguous, { lockerId, epoch, seq });
  }

  async chainBrokenAt(lockerId: string, epoch?: string): Promise<number | undefined> {
    if (epoch === undefined) return (await this.x.one<{ seq: number | null }>(anyBroken, [lockerId]))?.seq ?? undefined;
    return (await this.x.one<{ chain_broken_at: number | null }>(state, [lockerId, epoch]))?.chain_broken_at ?? undefined;
  }

  async flagChainBreak(lockerId: string, epoch: string, seq: number): Promise<void> {
    await this.x.run(flag, [lockerId, epoch, seq]);
  }

  async unprocessed(lockerId: string, epoch: string, upToSeq: number, priorityToo: boolean): Promise<AuditRecordRow[]> {
    return (await this.x.all<AuditRow>(unprocessed, { lockerId, epoch, upTo: upToSeq, priority: priorityToo ? 1 : 0 })).map(auditOf);
  }

  async markProcessed(lockerId: string, epoch: string, seq: number): Promise<boolean> {
    return (await this.x.run(markProcessed, [lockerId, epoch, seq])) === 1;
  }

  async currentEpoch(lockerId: string): Promise<string | undefined> {
    return (await this.x.one<{ epoch: string }>(currentEpoch, [lockerId]))?.epoch;
  }

  setCurrentEpoch(lockerId: string, epoch: string, at: number): Promise<boolean> {
    return atomically(this.x, async () => {
      await this.x.run(rememberEpoch, [lockerId, epoch]);
      if ((await this.x.run(changeEpoch, [lockerId, epoch, at])) === 1) return true;
      // Same epoch as before: only note when it was last announced.
      await this.x.run(touchEpoch, [at, lockerId, epoch]);
      return false;
    });
  }

  async knowsEpoch(lockerId: string, epoch: string): Promise<boolean> {
    return (await this.x.one(knownEpoch, [lockerId, epoch, lockerId, epoch])) !== undefined;
  }
}
