import { afterEach, describe, expect, it } from 'vitest';
import { codeSetDigestOf } from '@locker/contract/codes/code-set-digest.js';
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

  it('starts no worker until a batch large enough needs one, and stops it after the idle period', async () => {
    hasher = new ParallelEntryHasher(silentLogger(), { idleMs: 100 });
    hasher.start();
    expect(hasher.workerRunning).toBe(false);
    const small = makeEntries(0, 10);
    expect(hasher.begin(small).wait().toString('hex')).toBe(codeSetDigestOf(small));
    expect(hasher.workerRunning).toBe(false);
    const large = makeEntries(0, 2_000);
    expect(hasher.begin(large).wait().toString('hex')).toBe(codeSetDigestOf(large));
    expect(hasher.workerRunning).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(hasher.workerRunning).toBe(false);
    // The next large batch starts a new one and still gets the right digest.
    expect(hasher.begin(large).wait().toString('hex')).toBe(codeSetDigestOf(large));
    expect(hasher.workerRunning).toBe(true);
  });

  it('gives the empty digest for no entries', () => {
    expect(xorEntryHashes([]).toString('hex')).toBe('0'.repeat(64));
  });
});
