import { describe, expect, it } from 'vitest';
import type { CodeBatch } from './codes/code-batch.js';
import { CodeBatchContentHasher, codeBatchContentHash } from './content-hash.js';

const batch: CodeBatch = {
  lockerId: 'locker-a',
  kind: 'delta',
  fromVersion: 1,
  toVersion: 2,
  upserts: [
    { tokenId: 'tok_000000000001', token: 'v4.public.aaaa', parcelId: 'P1', compartmentId: 'C1', size: 'M', kind: 'pickup' },
    { tokenId: 'tok_000000000002', token: 'v4.public.bbbb', codeDigest: 'a'.repeat(64), parcelId: 'P2', compartmentId: 'C2', size: 'S', kind: 'pickup' },
  ],
  revocations: [{ tokenId: 'tok_000000000003', reason: 'cancelled' }],
  keyring: [{ op: 'revoke', kid: 'old' }],
};

describe('code batch content hash', () => {
  it('does not depend on key order or spacing of the JSON the batch came in', () => {
    const reparsed = JSON.parse(JSON.stringify(batch, null, 2)) as CodeBatch;
    const reordered: CodeBatch = { keyring: batch.keyring, revocations: batch.revocations, upserts: batch.upserts, toVersion: 2, fromVersion: 1, kind: 'delta', lockerId: 'locker-a' };
    expect(codeBatchContentHash(reparsed)).toBe(codeBatchContentHash(batch));
    expect(codeBatchContentHash(reordered)).toBe(codeBatchContentHash(batch));
  });

  it('changes with any field, including entry order and an absent code digest', () => {
    const base = codeBatchContentHash(batch);
    const variants: CodeBatch[] = [
      { ...batch, toVersion: 3 },
      { ...batch, upserts: [...batch.upserts].reverse() },
      { ...batch, upserts: [{ ...batch.upserts[0]!, codeDigest: 'b'.repeat(64) }, batch.upserts[1]!] },
      { ...batch, revocations: [] },
      { ...batch, keyring: [{ op: 'revoke', kid: 'olD' }] },
      { ...batch, lockerId: 'locker-b' },
    ];
    for (const v of variants) expect(codeBatchContentHash(v)).not.toBe(base);
  });

  it('is the same hash when the upserts are fed a part at a time, and refuses a count that does not match the head', () => {
    const parts = new CodeBatchContentHasher(batch, 2);
    parts.addUpserts([batch.upserts[0]!]);
    parts.addUpserts([]);
    parts.addUpserts([batch.upserts[1]!]);
    expect(parts.finish(batch)).toBe(codeBatchContentHash(batch));
    const short = new CodeBatchContentHasher(batch, 2);
    short.addUpserts([batch.upserts[0]!]);
    expect(() => short.finish(batch)).toThrow(RangeError);
  });

  it('is pinned: a change here is a wire-format change', () => {
    expect(codeBatchContentHash(batch)).toMatchInlineSnapshot(`"d74fb3cff9f3a475a0e42f5a87870067778788acd0c638320ded60a5c9b331de"`);
  });
});
