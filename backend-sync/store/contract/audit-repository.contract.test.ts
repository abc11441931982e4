import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { AuditRecordRow, AuditReviewRecord } from '../records.js';
import { SqlAuditRepository } from '../sql/audit-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The audit repository's contract, on every engine: insert-if-absent per (locker, epoch,
// seq), chains kept apart per epoch, a watermark that only rises (unless capped), a break
// marker that only moves down, the review queue counted once per record, and epoch changes
// reported to exactly one of two instances racing to record them.

const dir = mkdtempSync(join(tmpdir(), 'audit-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('audit repository contract');
const T = 1_800_000_000_000;
const E1 = 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1';
const E2 = 'e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2';

const rec = (seq: number, over: Partial<AuditRecordRow> = {}): AuditRecordRow => ({
  lockerId: 'lk-a',
  epoch: E1,
  seq,
  at: T + seq,
  type: 'door.opened',
  lane: 'normal',
  dataJson: `{"compartmentId":"M${String(seq)}","n":${String(seq)}}`,
  prevHash: String(seq - 1).padStart(64, '0'),
  hash: String(seq).padStart(64, 'a'),
  ...over,
});

describe.each(engines)('AuditRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlAuditRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlAuditRepository(x);
  });
  afterEach(() => dispose());

  it('stores a record once per (locker, epoch, seq) and reads it back exactly', async () => {
    expect(await repo.insert(rec(1), T + 100)).toBe(true);
    expect(await repo.insert(rec(1, { hash: 'f'.repeat(64) }), T + 200)).toBe(false);
    expect(await repo.get('lk-a', E1, 1)).toEqual(rec(1));
    // The same seq under another epoch or locker is another record.
    expect(await repo.insert(rec(1, { epoch: E2 }), T)).toBe(true);
    expect(await repo.insert(rec(1, { lockerId: 'lk-b' }), T)).toBe(true);
    expect(await repo.insert(rec(2), T)).toBe(true);
    expect(await repo.count('lk-a')).toBe(3);
    expect(await repo.count('lk-a', E1)).toBe(2);
    expect(await repo.count('lk-a', E2)).toBe(1);
    expect(await repo.count('nobody')).toBe(0);
    expect(await repo.get('lk-a', E2, 2)).toBeUndefined();
  });

  it('reads a span of one chain in seq order, bounded on both ends and in count, gaps left out', async () => {
    for (const seq of [1, 2, 3, 5, 6]) await repo.insert(rec(seq), T);
    await repo.insert(rec(4, { epoch: E2 }), T);
    await repo.insert(rec(4, { lockerId: 'lk-b' }), T);
    expect((await repo.span('lk-a', E1, 1, 6, 100)).map((r) => r.seq)).toEqual([2, 3, 5, 6]);
    expect((await repo.span('lk-a', E1, 0, 5, 2)).map((r) => r.seq)).toEqual([1, 2]);
    expect(await repo.span('lk-a', E1, 2, 3, 10)).toEqual([rec(3)]);
    expect(await repo.span('lk-a', E1, 6, 9, 10)).toEqual([]);
  });

  it('counts the records held in a span of one chain, gaps not counted', async () => {
    for (const seq of [1, 2, 3, 5, 6]) await repo.insert(rec(seq), T);
    await repo.insert(rec(4, { epoch: E2 }), T);
    await repo.insert(rec(4, { lockerId: 'lk-b' }), T);
    expect(await repo.countSpan('lk-a', E1, 0, 3)).toBe(3);
    expect(await repo.countSpan('lk-a', E1, 2, 6)).toBe(3);
    expect(await repo.countSpan('lk-a', E1, 3, 4)).toBe(0);
    expect(await repo.countSpan('lk-a', E1, 6, 100)).toBe(0);
    expect(await repo.countSpan('lk-a', E2, 0, 100)).toBe(1);
  });

  it('keeps a conflicting record as evidence, once', async () => {
    expect(await repo.hasConflict('lk-a', E1, 3)).toBe(false);
    await repo.recordConflict(rec(3, { hash: 'b'.repeat(64) }), T);
    await repo.recordConflict(rec(3, { hash: 'b'.repeat(64) }), T + 1);
    await repo.recordConflict(rec(3, { hash: 'c'.repeat(64) }), T + 2);
    expect(await repo.hasConflict('lk-a', E1, 3)).toBe(true);
    expect(await repo.hasConflict('lk-a', E2, 3)).toBe(false);
    const rows = await x.all<{ hash: string; record_json: string }>(sql('SELECT hash, record_json FROM audit_conflicts ORDER BY hash'));
    expect(rows.map((r) => r.hash)).toEqual(['b'.repeat(64), 'c'.repeat(64)]);
    expect(JSON.parse(rows[0]!.record_json)).toEqual(rec(3, { hash: 'b'.repeat(64) }));
  });

  it('raises the watermark and never lowers it, except by an explicit cap', async () => {
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(0);
    await repo.setContiguousSeq('lk-a', E1, 5);
    await repo.setContiguousSeq('lk-a', E1, 3);
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(5);
    expect(await repo.contiguousSeq('lk-a', E2)).toBe(0);
    await repo.capContiguousSeq('lk-a', E1, 7);
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(5);
    await repo.capContiguousSeq('lk-a', E1, 2);
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(2);
    // Capping a chain with no state yet creates nothing.
    await repo.capContiguousSeq('lk-a', E2, 1);
    expect(await repo.contiguousSeq('lk-a', E2)).toBe(0);
  });

  it('two instances raising one watermark at once: the higher wins', async () => {
    await repo.setContiguousSeq('lk-a', E1, 1);
    const other = new SqlAuditRepository(x);
    await Promise.all([
      x.transaction(() => repo.setContiguousSeq('lk-a', E1, 9)),
      x.transaction(() => other.setContiguousSeq('lk-a', E1, 4)),
      x.transaction(() => other.setContiguousSeq('lk-b', E1, 4)),
      x.transaction(() => repo.setContiguousSeq('lk-b', E1, 9)),
    ]);
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(9);
    expect(await repo.contiguousSeq('lk-b', E1)).toBe(9);
  });

  it('flags a chain break at its lowest seq, per epoch and across epochs', async () => {
    expect(await repo.chainBrokenAt('lk-a')).toBeUndefined();
    expect(await repo.chainBrokenAt('lk-a', E1)).toBeUndefined();
    await repo.setContiguousSeq('lk-a', E1, 4);
    await repo.flagChainBreak('lk-a', E1, 8);
    await repo.flagChainBreak('lk-a', E1, 12);
    expect(await repo.chainBrokenAt('lk-a', E1)).toBe(8);
    await repo.flagChainBreak('lk-a', E1, 6);
    expect(await repo.chainBrokenAt('lk-a', E1)).toBe(6);
    // Flagging keeps the watermark.
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(4);
    await repo.flagChainBreak('lk-a', E2, 3);
    expect(await repo.chainBrokenAt('lk-a', E2)).toBe(3);
    expect(await repo.chainBrokenAt('lk-a')).toBe(3);
    expect(await repo.chainBrokenAt('lk-b')).toBeUndefined();
  });

  it('lists unprocessed records in seq order up to a bound, priority ones beyond it on request', async () => {
    for (const seq of [3, 1, 5, 2, 4]) await repo.insert(rec(seq, seq === 5 ? { lane: 'priority' } : {}), T);
    await repo.insert(rec(1, { epoch: E2 }), T);
    expect((await repo.unprocessed('lk-a', E1, 3, false)).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await repo.unprocessed('lk-a', E1, 3, true)).map((r) => r.seq)).toEqual([1, 2, 3, 5]);
    expect(await repo.markProcessed('lk-a', E1, 2)).toBe(true);
    expect(await repo.markProcessed('lk-a', E1, 2)).toBe(false);
    expect(await repo.markProcessed('lk-a', E1, 99)).toBe(false);
    const left = await repo.unprocessed('lk-a', E1, 10, false);
    expect(left.map((r) => r.seq)).toEqual([1, 3, 4, 5]);
    expect(left[3]).toEqual(rec(5, { lane: 'priority' }));
  });

  it('records the current epoch and says when it changed', async () => {
    expect(await repo.currentEpoch('lk-a')).toBeUndefined();
    expect(await repo.setCurrentEpoch('lk-a', E1, T)).toBe(true);
    expect(await repo.setCurrentEpoch('lk-a', E1, T + 1)).toBe(false);
    expect(await repo.currentEpoch('lk-a')).toBe(E1);
    expect(await repo.setCurrentEpoch('lk-a', E2, T + 2)).toBe(true);
    expect(await repo.currentEpoch('lk-a')).toBe(E2);
    expect(await repo.currentEpoch('lk-b')).toBeUndefined();
  });

  it('knows every epoch that was ever current, with or without records', async () => {
    expect(await repo.knowsEpoch('lk-a', E1)).toBe(false);
    await repo.setCurrentEpoch('lk-a', E1, T);
    await repo.setCurrentEpoch('lk-a', E2, T + 1);
    expect(await repo.knowsEpoch('lk-a', E1)).toBe(true);
    expect(await repo.knowsEpoch('lk-a', E2)).toBe(true);
    expect(await repo.knowsEpoch('lk-b', E1)).toBe(false);
    expect(await repo.chainBrokenAt('lk-a')).toBeUndefined();
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(0);
  });

  it('two instances recording the same new epoch at once: exactly one learns it changed', async () => {
    await repo.setCurrentEpoch('lk-a', E1, T);
    const other = new SqlAuditRepository(x);
    for (let round = 0; round < 5; round++) {
      const next = round % 2 === 0 ? E2 : E1;
      const results = await Promise.all([x.transaction(() => repo.setCurrentEpoch('lk-a', next, T + round)), x.transaction(() => other.setCurrentEpoch('lk-a', next, T + round))]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await repo.currentEpoch('lk-a')).toBe(next);
    }
  });

  it('keeps a refused record for review once and counts it once', async () => {
    const review = (seq: number, over: Partial<AuditReviewRecord> = {}): AuditReviewRecord => ({
      lockerId: 'lk-a',
      epoch: E1,
      seq,
      type: 'door.weird',
      reason: 'unknown-type',
      detail: 'no schema for door.weird',
      receivedAt: T + 10 - seq,
      ...over,
    });
    expect(await repo.keepForReview(review(1))).toBe(true);
    expect(await repo.keepForReview(review(1, { detail: 'again' }))).toBe(false);
    expect(await repo.keepForReview(review(2, { reason: 'invalid-json' }))).toBe(true);
    expect(await repo.keepForReview(review(1, { epoch: E2 }))).toBe(true);
    expect(await repo.keepForReview(review(1, { lockerId: 'lk-b', receivedAt: T }))).toBe(true);
    expect(await repo.reviewCount('lk-a')).toBe(3);
    expect(await repo.reviewCount('lk-b')).toBe(1);
    expect(await repo.reviewCount('lk-c')).toBe(0);
    // The review counter lives beside the chain's watermark and does not disturb it.
    await repo.setContiguousSeq('lk-a', E1, 2);
    expect(await repo.keepForReview(review(3))).toBe(true);
    expect(await repo.contiguousSeq('lk-a', E1)).toBe(2);
    expect(await repo.reviewCount('lk-a')).toBe(4);
    // Oldest first; ties in the order of locker, epoch, seq.
    expect((await repo.reviewList('lk-a')).map((r) => [r.epoch, r.seq])).toEqual([
      [E1, 3],
      [E1, 2],
      [E1, 1],
      [E2, 1],
    ]);
    expect((await repo.reviewList()).map((r) => [r.lockerId, r.seq])).toEqual([
      ['lk-b', 1],
      ['lk-a', 3],
      ['lk-a', 2],
      ['lk-a', 1],
      ['lk-a', 1],
    ]);
    expect((await repo.reviewList('lk-a'))[1]).toEqual(review(2, { reason: 'invalid-json' }));
  });
});
