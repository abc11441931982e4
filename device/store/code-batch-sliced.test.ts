import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import { codeSetDigestOf } from '@locker/contract/codes/code-set-digest.js';
import type { BatchApplyResult } from '@locker/sync-agent/device-sync-port.js';
import { batchFor } from './batch-crash-plan.js';
import type { DeviceStore } from './device-store.js';
import { VISIBLE_ENTRY } from './staged-entries.js';
import { digestFor, makeBatch, makeEntries, makeEntry, openTestStore, publicKeyText, tempDir } from './store-test-fixtures.js';

// The sliced apply (decision 0025): new entries staged in short transactions with the event
// loop running in between, then one short transaction switching the version. A slice
// budget of 0 ms makes every slice one chunk (64 rows), so a 1,000-entry batch yields often.

interface Row {
  token_id: string;
  token: string;
}

function digestFromRows(store: DeviceStore): string {
  const rows = store.database.prepare<[], Row>(`SELECT token_id, token FROM code_entries WHERE in_set = 1 AND ${VISIBLE_ENTRY}`).all();
  return codeSetDigestOf(rows.map((r) => ({ tokenId: r.token_id, token: r.token })));
}

function rowCount(store: DeviceStore): number {
  return store.database.prepare<[], { n: number }>('SELECT count(*) AS n FROM code_entries').get()?.n ?? -1;
}

/** Runs `probe` on every event-loop turn until the apply settles; returns the result and the probe count. */
async function applyWhileProbing(store: DeviceStore, batch: CodeBatch, probe: () => void): Promise<{ result: BatchApplyResult; probes: number }> {
  let result: BatchApplyResult | undefined;
  const applying = store.applyCodeBatchInSlices(batch).then((r) => {
    result = r;
  });
  let probes = 0;
  while (result === undefined) {
    await nextTurn();
    if (result !== undefined) break;
    probe();
    probes++;
  }
  await applying;
  return { result, probes };
}

describe('applyCodeBatchInSlices', () => {
  let dir: string;
  let cleanup: () => void;
  let store: DeviceStore;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('sliced-'));
    store = openTestStore(join(dir, 'store.db'), undefined, { batchSliceBudgetMs: 0 });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('serves lookups between slices: old codes open until the switch, new codes right after it', async () => {
    store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 100) }));
    const batch = makeBatch({
      fromVersion: 1, toVersion: 2, upserts: makeEntries(1_000, 1_000), revocations: [{ tokenId: makeEntry(5).tokenId, reason: 'cancelled' }],
    });
    const { result, probes } = await applyWhileProbing(store, batch, () => {
      // Before the switch the store is wholly version 1, whatever has been staged.
      expect(store.codeSetState().version).toBe(1);
      expect(store.findEntryByCodeDigest(digestFor(5))?.tokenId).toBe(makeEntry(5).tokenId);
      expect(store.findEntryByCodeDigest(digestFor(1_500))).toBeUndefined();
      expect(store.findEntryByTokenId(makeEntry(1_999).tokenId)).toBeUndefined();
      expect(store.findEntriesByParcel('P1000')).toEqual([]);
      expect(store.reservedCompartments('none').size).toBe(40);
    });
    // The event loop ran many times while the batch was written: a key press would have too.
    expect(probes).toBeGreaterThan(10);
    expect(result.outcome).toBe('applied');
    expect(store.codeSetState().version).toBe(2);
    expect(store.findEntryByCodeDigest(digestFor(5))).toBeUndefined();
    expect(store.findEntryByCodeDigest(digestFor(1_500))?.tokenId).toBe(makeEntry(1_500).tokenId);
    expect(store.codeSetState().digest).toBe(digestFromRows(store));
  });

  it('ends every batch in the same state as the one-transaction apply', async () => {
    const reference = openTestStore(join(dir, 'reference.db'));
    try {
      // Deltas with revocations and keyring changes, and a snapshot (version 4).
      for (let v = 1; v <= 5; v++) {
        const expected = reference.applyCodeBatch(batchFor(v));
        const actual = await store.applyCodeBatchInSlices(batchFor(v));
        expect(actual).toEqual(expected);
        expect(digestFromRows(store)).toBe(actual.state.digest);
      }
    } finally {
      reference.close();
    }
  });

  it('lets a new entry take over a code the same batch frees from an existing entry', async () => {
    store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1)] }));
    const batch = makeBatch({
      fromVersion: 1, toVersion: 2,
      upserts: [...makeEntries(100, 200), makeEntry(1, { codeDigest: digestFor(777) }), makeEntry(2, { codeDigest: digestFor(1) })],
    });
    expect((await store.applyCodeBatchInSlices(batch)).outcome).toBe('applied');
    expect(store.findEntryByCodeDigest(digestFor(1))?.tokenId).toBe(makeEntry(2).tokenId);
    expect(store.findEntryByCodeDigest(digestFor(777))?.tokenId).toBe(makeEntry(1).tokenId);
    expect(store.codeSetState().digest).toBe(digestFromRows(store));
  });

  it('rejects a duplicate token id or code digest across slices and leaves no staged row behind', async () => {
    const dupId = makeBatch({ upserts: [...makeEntries(0, 300), makeEntry(10, { codeDigest: 'e'.repeat(64) })] });
    expect(await store.applyCodeBatchInSlices(dupId)).toMatchObject({ outcome: 'rejected', reason: 'duplicate token id among upserts' });
    const dupDigest = makeBatch({ upserts: [...makeEntries(0, 300), makeEntry(5_000, { codeDigest: digestFor(10) })] });
    expect(await store.applyCodeBatchInSlices(dupDigest)).toMatchObject({ outcome: 'rejected', reason: 'duplicate code digest among open entries' });
    expect(store.codeSetState().version).toBe(0);
    expect(rowCount(store)).toBe(0);
    // And the same entries apply cleanly afterwards.
    expect((await store.applyCodeBatchInSlices(makeBatch({ upserts: makeEntries(0, 300) }))).outcome).toBe('applied');
  });

  it('hides the rows of an apply killed before its switch and drops them before the next batch', async () => {
    store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 10) }));
    // What a SIGKILL between two slices leaves: rows staged for version 2, meta still at 1.
    store.database
      .prepare(`INSERT INTO code_entries (token_id, token, code_digest, parcel_id, compartment_id, current_compartment_id, size, kind,
                  state, in_set, received_at, updated_at, staged_version)
                VALUES (?, 'v4.public.x', ?, 'P-left', 'C1', 'C1', 'M', 'pickup', 'awaiting-deposit', 1, 1, 1, 2)`)
      .run(makeEntry(50).tokenId, digestFor(50));
    expect(store.findEntryByCodeDigest(digestFor(50))).toBeUndefined();
    expect(store.findEntryByTokenId(makeEntry(50).tokenId)).toBeUndefined();
    expect(store.codeSetState().digest).toBe(digestFromRows(store));
    // The backend re-sends version 2 with other content for the same token id and code.
    const batch = makeBatch({ fromVersion: 1, toVersion: 2, upserts: [makeEntry(50, { parcelId: 'P-new' })] });
    expect((await store.applyCodeBatchInSlices(batch)).outcome).toBe('applied');
    expect(store.findEntryByCodeDigest(digestFor(50))?.parcelId).toBe('P-new');
    expect(store.codeSetState().digest).toBe(digestFromRows(store));
  });

  it('turns autocheckpoint off while a large batch is staged, so no commit between slices (a key press\'s) runs one, and back on after', async () => {
    const autocheckpoint = (): unknown => store.database.pragma('wal_autocheckpoint', { simple: true });
    const seen = new Set<unknown>();
    const large = await applyWhileProbing(store, makeBatch({ upserts: makeEntries(0, 1_000) }), () => seen.add(autocheckpoint()));
    expect(large.result.outcome).toBe('applied');
    expect([...seen]).toEqual([0]);
    expect(autocheckpoint()).toBe(1000);
    seen.clear();
    const small = await applyWhileProbing(store, makeBatch({ fromVersion: 1, toVersion: 2, upserts: makeEntries(1_000, 200) }), () => seen.add(autocheckpoint()));
    expect(small.result.outcome).toBe('applied');
    expect([...seen]).toEqual([1000]);
  });

  it('checkpoints every few slices while a large batch is staged, so the WAL stays small', async () => {
    const walBytes = async (everySlices: number): Promise<number> => {
      const path = join(dir, `wal-${String(everySlices)}.db`);
      const s = openTestStore(path, undefined, { batchSliceBudgetMs: 0, batchCheckpointEverySlices: everySlices });
      try {
        expect((await s.applyCodeBatchInSlices(makeBatch({ upserts: makeEntries(0, 3_000) }))).outcome).toBe('applied');
        expect(s.codeSetState().digest).toBe(codeSetDigestOf(makeEntries(0, 3_000)));
        // The WAL file keeps the size of the most frames it held between two restarts.
        return statSync(`${path}-wal`).size;
      } finally {
        s.close();
      }
    };
    const paced = await walBytes(2);
    const unpaced = await walBytes(0);
    expect(paced).toBeLessThan(1024 * 1024);
    // SQLite's own autocheckpoint lets it reach 1000 pages (4 MB) first.
    expect(unpaced).toBeGreaterThan(3 * 1024 * 1024);
  });

  it('applies batches sent while one is in flight one after the other, and refuses a one-transaction apply meanwhile', async () => {
    const first = store.applyCodeBatchInSlices(makeBatch({ upserts: makeEntries(0, 500) }));
    const second = store.applyCodeBatchInSlices(makeBatch({ fromVersion: 1, toVersion: 2, upserts: makeEntries(500, 500) }));
    await nextTurn();
    expect(() => store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3 }))).toThrow(/being applied in slices/);
    expect((await first).outcome).toBe('applied');
    expect((await second).outcome).toBe('applied');
    expect(store.codeSetState().version).toBe(2);
    expect(store.codeSetState().digest).toBe(codeSetDigestOf(makeEntries(0, 1_000)));
  });
});

describe('a batch re-binding a kid the device config trusts', () => {
  let dir: string;
  let cleanup: () => void;
  let store: DeviceStore;
  const configKey = publicKeyText();
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('rebind-'));
    store = openTestStore(join(dir, 'store.db'), undefined, { trustedKeys: [{ kid: 'cfg-1', publicKey: configKey }] });
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  const rebind = (): CodeBatch =>
    makeBatch({ upserts: makeEntries(0, 20), keyring: [{ op: 'trust', kid: 'new-2', publicKey: publicKeyText() }, { op: 'trust', kid: 'cfg-1', publicKey: publicKeyText() }] });

  it.each([
    ['in slices', (s: DeviceStore, b: CodeBatch) => s.applyCodeBatchInSlices(b)],
    ['in one transaction', (s: DeviceStore, b: CodeBatch) => Promise.resolve(s.applyCodeBatch(b))],
  ])('is rejected whole, applied %s, and audited on the priority lane', async (_how, apply) => {
    const result = await apply(store, rebind());
    expect(result).toMatchObject({ outcome: 'rejected', reason: expect.stringMatching(/cfg-1 is trusted by the device config/) as unknown });
    expect(store.codeSetState().version).toBe(0);
    expect(store.keyringRows()).toEqual([]);
    expect(rowCount(store)).toBe(0);
    const audit = store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 10 });
    expect(audit.map((r) => r.type)).toEqual(['code-batch.keyring-rebind-refused']);
    expect(JSON.parse(audit[0]!.dataJson)).toMatchObject({ kid: 'cfg-1', kind: 'delta', fromVersion: 0, toVersion: 1, version: 0 });
  });

  it('still lets a batch confirm the same key, set its notAfter, or revoke it', async () => {
    const confirm = makeBatch({ keyring: [{ op: 'trust', kid: 'cfg-1', publicKey: configKey, notAfter: 2_000_000_000_000 }] });
    expect((await store.applyCodeBatchInSlices(confirm)).outcome).toBe('applied');
    const revoke = makeBatch({ fromVersion: 1, toVersion: 2, keyring: [{ op: 'revoke', kid: 'cfg-1' }] });
    expect((await store.applyCodeBatchInSlices(revoke)).outcome).toBe('applied');
    expect(store.keyringRows()).toMatchObject([{ kid: 'cfg-1', revoked: true }]);
  });
});
