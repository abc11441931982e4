import type { AuditRecordRow, AuditReviewRecord } from '../records.js';
import type { AuditRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Uploaded locker audit records and each locker's contiguous watermark and chain state,
// and the records the audit contract refused, kept for review with a per-locker counter.

interface AuditRow {
  locker_id: string;
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
  seq: number;
  type: string;
  reason: AuditReviewRecord['reason'];
  detail: string;
  received_at: number;
}

const reviewOf = (r: ReviewRow): AuditReviewRecord => ({
  lockerId: r.locker_id,
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
        `INSERT INTO audit_records (locker_id, seq, at, type, lane, data_json, prev_hash, hash, received_at)
         VALUES (@lockerId, @seq, @at, @type, @lane, @dataJson, @prevHash, @hash, @receivedAt) ON CONFLICT DO NOTHING`,
      ),
      get: db.prepare<[string, number], AuditRow>('SELECT * FROM audit_records WHERE locker_id = ? AND seq = ?'),
      ensureState: db.prepare<[string]>('INSERT INTO audit_state (locker_id) VALUES (?) ON CONFLICT DO NOTHING'),
      state: db.prepare<[string], { contiguous_seq: number; chain_broken_at: number | null }>('SELECT contiguous_seq, chain_broken_at FROM audit_state WHERE locker_id = ?'),
      setContiguous: db.prepare<[number, string, number]>('UPDATE audit_state SET contiguous_seq = ? WHERE locker_id = ? AND contiguous_seq < ?'),
      flag: db.prepare<[number, string, number]>(
        'UPDATE audit_state SET chain_broken_at = ? WHERE locker_id = ? AND (chain_broken_at IS NULL OR chain_broken_at > ?)',
      ),
      unprocessed: db.prepare<{ lockerId: string; upTo: number; priority: number }, AuditRow>(
        `SELECT * FROM audit_records WHERE locker_id = @lockerId AND processed = 0 AND (seq <= @upTo OR (@priority = 1 AND lane = 'priority')) ORDER BY seq`,
      ),
      markProcessed: db.prepare<[string, number]>('UPDATE audit_records SET processed = 1 WHERE locker_id = ? AND seq = ? AND processed = 0'),
      review: db.prepare(
        `INSERT INTO audit_review (locker_id, seq, type, reason, detail, received_at)
         VALUES (@lockerId, @seq, @type, @reason, @detail, @receivedAt) ON CONFLICT DO NOTHING`,
      ),
      countReview: db.prepare<[string]>('UPDATE audit_state SET review_count = review_count + 1 WHERE locker_id = ?'),
      reviewCount: db.prepare<[string], { review_count: number }>('SELECT review_count FROM audit_state WHERE locker_id = ?'),
      reviewAll: db.prepare<[], ReviewRow>('SELECT * FROM audit_review ORDER BY received_at, locker_id, seq'),
      reviewOf: db.prepare<[string], ReviewRow>('SELECT * FROM audit_review WHERE locker_id = ? ORDER BY seq'),
    };
  }
  keepForReview(r: AuditReviewRecord): boolean {
    if (this.s.review.run(r).changes !== 1) return false;
    this.s.ensureState.run(r.lockerId);
    this.s.countReview.run(r.lockerId);
    return true;
  }
  reviewList(lockerId?: string): AuditReviewRecord[] {
    return (lockerId === undefined ? this.s.reviewAll.all() : this.s.reviewOf.all(lockerId)).map(reviewOf);
  }
  reviewCount(lockerId: string): number {
    return this.s.reviewCount.get(lockerId)?.review_count ?? 0;
  }
  insert(r: AuditRecordRow, receivedAt: number): boolean {
    return this.s.insert.run({ ...r, receivedAt }).changes === 1;
  }
  get(lockerId: string, seq: number): AuditRecordRow | undefined {
    const r = this.s.get.get(lockerId, seq);
    return r === undefined ? undefined : auditOf(r);
  }
  contiguousSeq(lockerId: string): number {
    return this.s.state.get(lockerId)?.contiguous_seq ?? 0;
  }
  setContiguousSeq(lockerId: string, seq: number): void {
    this.s.ensureState.run(lockerId);
    this.s.setContiguous.run(seq, lockerId, seq);
  }
  chainBrokenAt(lockerId: string): number | undefined {
    return this.s.state.get(lockerId)?.chain_broken_at ?? undefined;
  }
  flagChainBreak(lockerId: string, seq: number): void {
    this.s.ensureState.run(lockerId);
    this.s.flag.run(seq, lockerId, seq);
  }
  unprocessed(lockerId: string, upToSeq: number, priorityToo: boolean): AuditRecordRow[] {
    return this.s.unprocessed.all({ lockerId, upTo: upToSeq, priority: priorityToo ? 1 : 0 }).map(auditOf);
  }
  markProcessed(lockerId: string, seq: number): boolean {
    return this.s.markProcessed.run(lockerId, seq).changes === 1;
  }
}
