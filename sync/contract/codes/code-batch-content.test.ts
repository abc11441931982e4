import { describe, expect, it } from 'vitest';
import type { CodeBatch } from './code-batch.js';
import { findBatchContentProblem } from './code-batch-content.js';

const entry = (tokenId: string) => ({
  tokenId, token: 'v4.public.x', parcelId: 'P1', compartmentId: 'A1', size: 'S' as const, kind: 'pickup' as const,
});
const batch = (overrides: Partial<CodeBatch>): CodeBatch => ({
  lockerId: 'l1', kind: 'delta', fromVersion: 0, toVersion: 1, upserts: [], revocations: [], keyring: [], ...overrides,
});

describe('findBatchContentProblem', () => {
  it('accepts a consistent batch', () => {
    expect(findBatchContentProblem(batch({ upserts: [entry('aaaaaaaaaaaaaaaa')], revocations: [{ tokenId: 'bbbbbbbbbbbbbbbb', reason: 'cancelled' }] }), 'l1')).toBeUndefined();
  });

  it('refuses a batch for another locker', () => {
    expect(findBatchContentProblem(batch({}), 'l2')).toBe('batch is for another locker');
  });

  it('refuses a token both upserted and revoked, and a token revoked twice', () => {
    const id = 'aaaaaaaaaaaaaaaa';
    expect(findBatchContentProblem(batch({ upserts: [entry(id)], revocations: [{ tokenId: id, reason: 'cancelled' }] }), 'l1')).toMatch(/both/);
    expect(findBatchContentProblem(batch({ revocations: [{ tokenId: id, reason: 'cancelled' }, { tokenId: id, reason: 'expired' }] }), 'l1')).toMatch(/duplicate/);
  });
});
