import { afterEach, describe, expect, it } from 'vitest';
import { codeSetDigestOf } from '../codes/code-set-digest.js';
import { silentLogger } from '../logger.js';
import { ParallelEntryHasher, xorEntryHashes } from './parallel-entry-hasher.js';
import { makeEntries } from './store-test-fixtures.js';

describe('ParallelEntryHasher', () => {
  let hasher: ParallelEntryHasher | undefined;
  afterEach(() => hasher?.stop());

  it('computes on the worker exactly the digest codeSetDigestOf computes', () => {
    hasher = new ParallelEntryHasher(silentLogger());
    hasher.start();
    const entries = makeEntries(0, 5_000);
    const pending = hasher.begin(entries);
    expect(pending.wait().toString('hex')).toBe(codeSetDigestOf(entries));
    // A second batch on the same worker starts from zero again.
    const more = makeEntries(10_000, 2_000);
    expect(hasher.begin(more).wait().toString('hex')).toBe(codeSetDigestOf(more));
  });

  it('hashes on the main thread when the worker was never started or is stopped', () => {
    hasher = new ParallelEntryHasher(silentLogger());
    const entries = makeEntries(0, 1_500);
    expect(hasher.begin(entries).wait().toString('hex')).toBe(codeSetDigestOf(entries));
    hasher.start();
    hasher.stop();
    expect(hasher.begin(entries).wait().toString('hex')).toBe(codeSetDigestOf(entries));
  });

  it('gives the empty digest for no entries', () => {
    expect(xorEntryHashes([]).toString('hex')).toBe('0'.repeat(64));
  });
});
