import type { AuditRecordRow, AuditReviewRecord } from '../records.js';
import type { AuditRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Uploaded locker audit records, one chain per (locker, device database epoch), with each
// chain's contiguous watermark and chain state, records that conflicted with a stored one,
// and the epoch each locker announced last.

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

export class SqliteAuditRepository implements AuditRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO audit_records (locker_id, epoch, seq, at, type, lane, data_json, prev_hash, hash, received_at)
         VALUES (@lockerId, @epoch, @seq, @at, @type, @lane, @dataJson, @prevHash, @hash, @receivedAt) ON CONFLICT DO NOTHING`,
      ),
      get: db.prepare<[string, string, number], AuditRow>('SELECT * FROM audit_records WHERE locker_id = ? AND epoch = ? AND seq = ?'),
      conflict: db.prepare<[string, string, number, string, string, number]>(
        'INSERT INTO audit_conflicts (locker_id, epoch, seq, hash, record_json, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      hasConflict: db.prepare<[string, string, number], { n: number }>('SELECT count(*) AS n FROM audit_conflicts WHERE locker_id = ? AND epoch = ? AND seq = ?'),
      count: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM audit_records WHERE locker_id = ?'),
      countEpoch: db.prepare<[string, string], { n: number }>('SELECT count(*) AS n FROM audit_records WHERE locker_id = ? AND epoch = ?'),
      ensureState: db.prepare<[string, string]>('INSERT INTO audit_state (locker_id, epoch) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      state: db.prepare<[string, string], { contiguous_seq: number; chain_broken_at: number | null }>(
        'SELECT contiguous_seq, chain_broken_at FROM audit_state WHERE locker_id = ? AND epoch = ?',
      ),
      anyBroken: db.prepare<[string], { seq: number | null }>('SELECT min(chain_broken_at) AS seq FROM audit_state WHERE locker_id = ?'),
      setContiguous: db.prepare<[number, string, string, number]>('UPDATE audit_state SET contiguous_seq = ? WHERE locker_id = ? AND epoch = ? AND contiguous_seq < ?'),
      capContiguous: db.prepare<[number, string, string, number]>('UPDATE audit_state SET contiguous_seq = ? WHERE locker_id = ? AND epoch = ? AND contiguous_seq > ?'),
      flag: db.prepare<[number, string, string, number]>(
        'UPDATE audit_state SET chain_broken_at = ? WHERE locker_id = ? AND epoch = ? AND (chain_broken_at IS NULL OR chain_broken_at > ?)',
      ),
      unprocessed: db.prepare<{ lockerId: string; epoch: string; upTo: number; priority: number }, AuditRow>(
        `SELECT * FROM audit_records WHERE locker_id = @lockerId AND epoch = @epoch AND processed = 0
           AND (seq <= @upTo OR (@priority = 1 AND lane = 'priority')) ORDER BY seq`,
      ),
      markProcessed: db.prepare<[string, string, number]>('UPDATE audit_records SET processed = 1 WHERE locker_id = ? AND epoch = ? AND seq = ? AND processed = 0'),
      currentEpoch: db.prepare<[string], { epoch: string }>('SELECT epoch FROM locker_epochs WHERE locker_id = ?'),
      setEpoch: db.prepare<[string, string, number]>(
        `INSERT INTO locker_epochs (locker_id, epoch, seen_at) VALUES (?, ?, ?)
         ON CONFLICT (locker_id) DO UPDATE SET epoch = excluded.epoch, seen_at = excluded.seen_at`,
      ),
      review: db.prepare(
        `INSERT INTO audit_review (locker_id, epoch, seq, type, reason, detail, received_at)
         VALUES (@lockerId, @epoch, @seq, @type, @reason, @detail, @receivedAt) ON CONFLICT DO NOTHING`,
      ),
      countReview: db.prepare<[string, string]>('UPDATE audit_state SET review_count = review_count + 1 WHERE locker_id = ? AND epoch = ?'),
      reviewCount: db.prepare<[string], { n: number | null }>('SELECT sum(review_count) AS n FROM audit_state WHERE locker_id = ?'),
      reviewAll: db.prepare<[], ReviewRow>('SELECT * FROM audit_review ORDER BY received_at, locker_id, epoch, seq'),
      reviewOf: db.prepare<[string], ReviewRow>('SELECT * FROM audit_review WHERE locker_id = ? ORDER BY received_at, epoch, seq'),
    };
  }
  keepForReview(r: AuditReviewRecord): boolean {
    if (this.s.review.run(r).changes !== 1) return false;
    this.s.ensureState.run(r.lockerId, r.epoch);
    this.s.countReview.run(r.lockerId, r.epoch);
    return true;
  }
  reviewList(lockerId?: string): AuditReviewRecord[] {
    return (lockerId === undefined ? this.s.reviewAll.all() : this.s.reviewOf.all(lockerId)).map(reviewOf);
  }
  reviewCount(lockerId: string): number {
    return this.s.reviewCount.get(lockerId)?.n ?? 0;
  }
  insert(r: AuditRecordRow, receivedAt: number): boolean {
    return this.s.insert.run({ ...r, receivedAt }).changes === 1;
  }
  get(lockerId: string, epoch: string, seq: number): AuditRecordRow | undefined {
    const r = this.s.get.get(lockerId, epoch, seq);
    return r === undefined ? undefined : auditOf(r);
  }
  recordConflict(r: AuditRecordRow, receivedAt: number): void {
    this.s.conflict.run(r.lockerId, r.epoch, r.seq, r.hash, JSON.stringify(r), receivedAt);
  }
  hasConflict(lockerId: string, epoch: string, seq: number): boolean {
    return (this.s.hasConflict.get(lockerId, epoch, seq)?.n ?? 0) > 0;
  }
  count(lockerId: string, epoch?: string): number {
    return (epoch === undefined ? this.s.count.get(lockerId) : this.s.countEpoch.get(lockerId, epoch))?.n ?? 0;
  }
  contiguousSeq(lockerId: string, epoch: string): number {
    return this.s.state.get(lockerId, epoch)?.contiguous_seq ?? 0;
  }
  setContiguousSeq(lockerId: string, epoch: string, seq: number): void {
    this.s.ensureState.run(lockerId, epoch);
    this.s.setContiguous.run(seq, lockerId, epoch, seq);
  }
  capContiguousSeq(lockerId: string, epoch: string, seq: number): void {
    this.s.capContiguous.run(seq, lockerId, epoch, seq);
  }
  chainBrokenAt(lockerId: string, epoch?: string): number | undefined {
    if (epoch === undefined) return this.s.anyBroken.get(lockerId)?.seq ?? undefined;
    return this.s.state.get(lockerId, epoch)?.chain_broken_at ?? undefined;
  }
  flagChainBreak(lockerId: string, epoch: string, seq: number): void {
    this.s.ensureState.run(lockerId, epoch);
    this.s.flag.run(seq, lockerId, epoch, seq);
  }
  unprocessed(lockerId: string, epoch: string, upToSeq: number, priorityToo: boolean): AuditRecordRow[] {
    return this.s.unprocessed.all({ lockerId, epoch, upTo: upToSeq, priority: priorityToo ? 1 : 0 }).map(auditOf);
  }
  markProcessed(lockerId: string, epoch: string, seq: number): boolean {
    return this.s.markProcessed.run(lockerId, epoch, seq).changes === 1;
  }
  currentEpoch(lockerId: string): string | undefined {
    return this.s.currentEpoch.get(lockerId)?.epoch;
  }
  setCurrentEpoch(lockerId: string, epoch: string, at: number): boolean {
    const before = this.currentEpoch(lockerId);
    this.s.setEpoch.run(lockerId, epoch, at);
    return before !== epoch;
  }
}
