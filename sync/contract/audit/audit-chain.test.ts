import { describe, expect, it } from 'vitest';
import type { AuditRecord } from './audit-record.js';
import { verifyAuditChain } from './audit-chain.js';
import { auditRecordHash, GENESIS_PREV_HASH } from './audit-hash.js';

function chain(n: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  let prevHash = GENESIS_PREV_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const at = 1_700_000_000_000 + seq;
    const dataJson = JSON.stringify({ n: seq });
    const hash = auditRecordHash(prevHash, seq, at, 'test.event', dataJson);
    records.push({ seq, at, type: 'test.event', lane: 'normal', dataJson, prevHash, hash });
    prevHash = hash;
  }
  return records;
}

describe('auditRecordHash', () => {
  it('hashes prevHash, seq, at, type and dataJson separated by newlines, as documented', () => {
    // sha256("000…0\n1\n2\nt\n{}") computed independently with sha256sum.
    expect(auditRecordHash(GENESIS_PREV_HASH, 1, 2, 't', '{}')).toBe('f98adf8c24c6e170b3be34dd8221ab0213027fa4c74bae2953d4d85ea743c9b4');
  });
});

describe('verifyAuditChain', () => {
  it('accepts an intact chain from genesis', () => {
    expect(verifyAuditChain(chain(5), GENESIS_PREV_HASH)).toEqual({ ok: true, records: 5, firstSeq: 1, lastSeq: 5 });
  });

  it('accepts an empty run', () => {
    expect(verifyAuditChain([], GENESIS_PREV_HASH)).toEqual({ ok: true, records: 0, firstSeq: 0, lastSeq: 0 });
  });

  it('detects a modified record', () => {
    const records = chain(5);
    records[2] = { ...records[2]!, dataJson: '{"n":99}' };
    expect(verifyAuditChain(records, GENESIS_PREV_HASH)).toEqual({ ok: false, brokenAtSeq: 3, reason: 'hash-mismatch' });
  });

  it('detects a modified record whose hash was recomputed by the forger', () => {
    const records = chain(5);
    const r = records[2]!;
    records[2] = { ...r, dataJson: '{"n":99}', hash: auditRecordHash(r.prevHash, r.seq, r.at, r.type, '{"n":99}') };
    expect(verifyAuditChain(records, GENESIS_PREV_HASH)).toEqual({ ok: false, brokenAtSeq: 4, reason: 'prev-hash-mismatch' });
  });

  it('detects a deleted record', () => {
    const records = chain(5);
    records.splice(1, 1);
    expect(verifyAuditChain(records, GENESIS_PREV_HASH)).toEqual({ ok: false, brokenAtSeq: 3, reason: 'sequence-gap' });
  });

  it('detects a deleted first record against the expected anchor', () => {
    expect(verifyAuditChain(chain(5).slice(1), GENESIS_PREV_HASH)).toEqual({ ok: false, brokenAtSeq: 2, reason: 'prev-hash-mismatch' });
  });

  it('detects reordered records', () => {
    const records = chain(5);
    const [a, b] = [records[1]!, records[2]!];
    records[1] = b;
    records[2] = a;
    expect(verifyAuditChain(records, GENESIS_PREV_HASH).ok).toBe(false);
  });

  it('detects records whose seq numbers were swapped along with their contents', () => {
    const records = chain(5);
    const [a, b] = [records[1]!, records[2]!];
    records[1] = { ...b, seq: 2 };
    records[2] = { ...a, seq: 3 };
    expect(verifyAuditChain(records, GENESIS_PREV_HASH)).toMatchObject({ ok: false, brokenAtSeq: 2 });
  });

  it('verifies a run starting mid-chain from the hash the receiver already holds', () => {
    const records = chain(6);
    expect(verifyAuditChain(records.slice(3), records[2]!.hash)).toEqual({ ok: true, records: 3, firstSeq: 4, lastSeq: 6 });
    expect(verifyAuditChain(records.slice(3))).toMatchObject({ ok: true });
  });
});
