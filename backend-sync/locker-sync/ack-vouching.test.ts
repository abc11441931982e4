import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH, auditRecordHash } from '../shared/contract.js';
import type { AuditRecordRow } from '../store/records.js';
import type { SqlStore } from '../store/sql-store.js';
import { testEngines } from '../testing/pg-test-db.js';
import { openTestStore } from '../testing/test-store.js';
import { ackableSeq, lowestBreakAbove } from './ack-vouching.js';

// Where the stored chain stops vouching for a locker's records above its acked watermark,
// when the epoch's lowest break (the only one its chain state keeps) lies at or below it,
// above it, or when there is none. Every kind of break the ingest flags counts, and so does
// a record the backend never got.

const dir = mkdtempSync(join(tmpdir(), 'ack-vouching-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('ack vouching');
const L = 'lk-a';
const E = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';

/** A valid chain 1..n as rows (real hashes). */
function chain(n: number): AuditRecordRow[] {
  let prevHash = GENESIS_PREV_HASH;
  const rows: AuditRecordRow[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const dataJson = JSON.stringify({ compartmentId: 'M1', openMs: seq, commanded: false });
    const hash = auditRecordHash(prevHash, seq, 1_000 + seq, 'door.closed', dataJson);
    rows.push({ lockerId: L, epoch: E, seq, at: 1_000 + seq, type: 'door.closed', lane: 'normal', dataJson, prevHash, hash });
    prevHash = hash;
  }
  return rows;
}

describe.each(engines)('lowestBreakAbove (%s)', (engine) => {
  let store: SqlStore;
  let dispose: () => Promise<void>;
  const put = async (rows: AuditRecordRow[]): Promise<void> => {
    await store.transaction(async () => {
      for (const r of rows) await store.audit.insert(r, 0);
    });
  };
  const above = (ackedSeq: number, upTo: number, maxSpan?: number): Promise<number | undefined> => lowestBreakAbove(store.audit, L, E, ackedSeq, upTo, maxSpan === undefined ? {} : { walked: maxSpan });

  beforeEach(async () => {
    ({ store, dispose } = await openTestStore(engine, dir));
  });
  afterEach(() => dispose());

  it('is the stored lowest break when that lies above the watermark, and none without breaks', async () => {
    await put(chain(10));
    expect(await above(3, 10)).toBeUndefined();
    await store.audit.flagChainBreak(L, E, 6);
    expect(await above(3, 10)).toBe(6);
  });

  it('finds a second break above the watermark from the records when the lowest is at or below it', async () => {
    const rows = chain(12);
    // Record 2 altered (bad hash: the lowest break), record 9 linked to another 8.
    rows[1] = { ...rows[1]!, dataJson: '{"altered":true}' };
    rows[8] = { ...rows[8]!, prevHash: 'ab'.repeat(32), hash: auditRecordHash('ab'.repeat(32), 9, rows[8]!.at, rows[8]!.type, rows[8]!.dataJson) };
    await put(rows);
    await store.audit.flagChainBreak(L, E, 2);
    await store.audit.flagChainBreak(L, E, 9);
    expect(await store.audit.chainBrokenAt(L, E)).toBe(2);
    expect(await above(4, 12)).toBe(9);
    expect(await above(4, 8)).toBeUndefined();
    // A bad hash above the watermark counts too: at 2 from a watermark of 1.
    expect(await above(1, 12)).toBe(2);
    // The link into the first record above the watermark is checked, as the ingest did.
    expect(await above(8, 12)).toBe(9);
    // 10 links to the genuine 9, not the stored one: that is a break as well.
    expect(await above(9, 12)).toBe(10);
    expect(await above(10, 12)).toBeUndefined();
  });

  it('cannot vouch across a record it does not hold, nor further than its span bound', async () => {
    const rows = chain(20);
    await put(rows.filter((r) => r.seq !== 15));
    await store.audit.flagChainBreak(L, E, 1);
    expect(await above(5, 20)).toBe(15);
    expect(await above(5, 14)).toBeUndefined();
    // Checked in pages; the bound makes the rest unvouched.
    expect(await above(1, 14, 4)).toBe(6);
    expect(await above(1, 5, 4)).toBeUndefined();
    // No stored record at the watermark (the locker pruned it before we got it): no link to check.
    await dispose();
    ({ store, dispose } = await openTestStore(engine, dir));
    await put(rows.slice(7));
    await store.audit.flagChainBreak(L, E, 1);
    expect(await above(7, 20)).toBeUndefined();
  });
});

describe.each(engines)('lowestBreakAbove without a break at or below the watermark (%s)', (engine) => {
  let store: SqlStore;
  let dispose: () => Promise<void>;
  const put = async (rows: AuditRecordRow[]): Promise<void> => {
    await store.transaction(async () => {
      for (const r of rows) await store.audit.insert(r, 0);
    });
  };
  const above = (ackedSeq: number, upTo: number, maxCounted?: number): Promise<number | undefined> => lowestBreakAbove(store.audit, L, E, ackedSeq, upTo, maxCounted === undefined ? {} : { counted: maxCounted });

  beforeEach(async () => {
    ({ store, dispose } = await openTestStore(engine, dir));
  });
  afterEach(() => dispose());

  it('cannot vouch across a record it does not hold when the epoch has no break at all', async () => {
    const missing = [2, 15, 16, 40];
    await put(chain(64).filter((r) => !missing.includes(r.seq)));
    expect(await store.audit.chainBrokenAt(L, E)).toBeUndefined();
    // Every watermark and bound against the answer read off the rows one by one.
    for (const ackedSeq of [0, 1, 2, 3, 14, 16, 39, 40]) {
      for (const upTo of [ackedSeq, ackedSeq + 1, 20, 41, 64]) {
        const hole = missing.find((s) => s > ackedSeq && s <= upTo);
        expect(await above(ackedSeq, upTo), `ackedSeq ${String(ackedSeq)}, upTo ${String(upTo)}`).toBe(hole);
      }
    }
    // Below the watermark a missing record is the locker's business: never uploaded, already let go.
    expect(await above(40, 64)).toBeUndefined();
  });

  it('reports a missing record below a flagged break above the watermark, and the break otherwise', async () => {
    await put(chain(20).filter((r) => r.seq !== 8));
    await store.audit.flagChainBreak(L, E, 12);
    expect(await above(5, 20)).toBe(8);
    expect(await above(8, 20)).toBe(12);
    // Nothing missing up to 7: the flagged break is the answer, as it always was.
    expect(await above(5, 7)).toBe(12);
  });

  it('vouches no further than its span bound', async () => {
    await put(chain(20));
    expect(await above(1, 14, 4)).toBe(6);
    expect(await above(1, 5, 4)).toBeUndefined();
  });
});

describe('ackableSeq', () => {
  it('lets held records vouch only below the break, never past the stored prefix', () => {
    expect(ackableSeq(10, 4, new Set([6, 10]), undefined)).toBe(10);
    expect(ackableSeq(10, 4, new Set([6, 10]), 8)).toBe(6);
    expect(ackableSeq(10, 4, new Set([9, 10]), 5)).toBe(4);
    expect(ackableSeq(7, 4, new Set([10]), undefined)).toBe(7);
  });
});
