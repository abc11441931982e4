import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeSetDigestOf, EMPTY_CODE_SET_DIGEST } from '@locker/contract/codes/code-set-digest.js';
import type { DeviceStore } from './device-store.js';
import { digestFor, makeBatch, makeEntries, makeEntry, openTestStore, publicKeyText, tempDir } from './store-test-fixtures.js';

interface Row {
  token_id: string;
  token: string;
}

function digestFromRows(store: DeviceStore): string {
  const rows = store.database.prepare<[], Row>('SELECT token_id, token FROM code_entries WHERE in_set = 1').all();
  return codeSetDigestOf(rows.map((r) => ({ tokenId: r.token_id, token: r.token })));
}

describe('applyCodeBatch', () => {
  let dir: string;
  let cleanup: () => void;
  let store: DeviceStore;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir());
    store = openTestStore(join(dir, 'store.db'));
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('applies a delta on top of the current version and maintains the digest', () => {
    const entries = makeEntries(0, 50);
    const result = store.applyCodeBatch(makeBatch({ upserts: entries }));
    expect(result).toEqual({ outcome: 'applied', state: { version: 1, digest: codeSetDigestOf(entries) } });
    expect(store.codeSetState()).toEqual(result.state);
    expect(store.findEntryByTokenId(entries[3]!.tokenId)).toMatchObject({ state: 'awaiting-deposit', currentCompartmentId: entries[3]!.compartmentId });
  });

  it('reports a duplicate batch as stale and changes nothing', () => {
    store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 5) }));
    const before = store.codeSetState();
    const again = store.applyCodeBatch(makeBatch({ upserts: makeEntries(100, 5) }));
    expect(again).toEqual({ outcome: 'stale', state: before });
    expect(store.findEntryByTokenId(makeEntry(100).tokenId)).toBeUndefined();
  });

  it('reports a rollback to an older version as stale', () => {
    store.applyCodeBatch(makeBatch({ fromVersion: 0, toVersion: 5 }));
    expect(store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 2, toVersion: 4 })).outcome).toBe('stale');
  });

  it('reports a delta whose fromVersion is not the current version as a gap', () => {
    store.applyCodeBatch(makeBatch({ toVersion: 1 }));
    const result = store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3, upserts: makeEntries(0, 2) }));
    expect(result.outcome).toBe('gap');
    expect(store.codeSetState().version).toBe(1);
    expect(store.liveCodeCount() + store.findEntriesByParcel('P0').length).toBe(0);
  });

  it('rejects a batch for another locker', () => {
    const result = store.applyCodeBatch(makeBatch({ lockerId: 'someone-else', upserts: makeEntries(0, 2) }));
    expect(result).toMatchObject({ outcome: 'rejected', state: { version: 0, digest: EMPTY_CODE_SET_DIGEST } });
  });

  it('rejects duplicate token ids and duplicate code digests within a batch', () => {
    const dupId = store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1), makeEntry(1, { parcelId: 'X', codeDigest: digestFor(99) })] }));
    expect(dupId).toMatchObject({ outcome: 'rejected', reason: 'duplicate token id among upserts' });
    const dupDigest = store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1), makeEntry(2, { codeDigest: digestFor(1) })] }));
    expect(dupDigest).toMatchObject({ outcome: 'rejected', reason: 'duplicate code digest among open entries' });
    expect(store.codeSetState().version).toBe(0);
    expect(store.findEntryByTokenId(makeEntry(1).tokenId)).toBeUndefined();
  });

  it('rejects an existing token id repeated within a batch, changing nothing', () => {
    store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1)] }));
    const before = store.codeSetState();
    const dup = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [makeEntry(1), makeEntry(2), makeEntry(1, { parcelId: 'X' })] }));
    expect(dup).toMatchObject({ outcome: 'rejected', reason: 'duplicate token id among upserts', state: before });
    expect(store.findEntryByTokenId(makeEntry(1).tokenId)?.parcelId).toBe(makeEntry(1).parcelId);
    expect(store.findEntryByTokenId(makeEntry(2).tokenId)).toBeUndefined();
  });

  it('rejects a code digest already held by another open entry, changing nothing', () => {
    store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1)] }));
    const result = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [makeEntry(2), makeEntry(3, { codeDigest: digestFor(1) })] }));
    expect(result.outcome).toBe('rejected');
    expect(store.findEntryByTokenId(makeEntry(2).tokenId)).toBeUndefined();
    expect(store.codeSetState().version).toBe(1);
  });

  it('lets a code be reused once its previous entry was collected', () => {
    store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1)] }));
    store.markDeposited(makeEntry(1).tokenId, 'C1', 10);
    store.markCollected(makeEntry(1).tokenId, 20);
    const result = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [makeEntry(2, { codeDigest: digestFor(1) })] }));
    expect(result.outcome).toBe('applied');
    expect(store.findEntryByCodeDigest(digestFor(1))?.tokenId).toBe(makeEntry(2).tokenId);
  });

  it('lets two entries swap codes within one delta', () => {
    store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1), makeEntry(2)] }));
    const swapped = [makeEntry(1, { codeDigest: digestFor(2) }), makeEntry(2, { codeDigest: digestFor(1) })];
    expect(store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: swapped })).outcome).toBe('applied');
    expect(store.findEntryByCodeDigest(digestFor(2))?.tokenId).toBe(makeEntry(1).tokenId);
  });

  it('revokes a token: the entry is no longer found by its code and the digest drops it', () => {
    const entries = makeEntries(0, 3);
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    const result = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, revocations: [{ tokenId: entries[0]!.tokenId, reason: 'cancelled' }] }));
    expect(result.state.digest).toBe(codeSetDigestOf(entries.slice(1)));
    expect(store.findEntryByCodeDigest(entries[0]!.codeDigest!)).toBeUndefined();
    expect(store.findEntryByTokenId(entries[0]!.tokenId)?.state).toBe('revoked');
    expect(store.isTokenRevoked(entries[0]!.tokenId)).toBe(true);
  });

  it('records revocations of tokens it has no entry for, and never lets such a token open later', () => {
    const courier = makeEntry(77);
    store.applyCodeBatch(makeBatch({ revocations: [{ tokenId: courier.tokenId, reason: 'compromised' }] }));
    expect(store.isTokenRevoked(courier.tokenId)).toBe(true);
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [courier] }));
    expect(store.findEntryByTokenId(courier.tokenId)?.state).toBe('revoked');
    expect(store.findEntryByCodeDigest(courier.codeDigest!)).toBeUndefined();
  });

  it('rejects a batch that both upserts and revokes one token', () => {
    const e = makeEntry(1);
    const result = store.applyCodeBatch(makeBatch({ upserts: [e], revocations: [{ tokenId: e.tokenId, reason: 'cancelled' }] }));
    expect(result.outcome).toBe('rejected');
  });

  it('keeps a deposited entry live in its current compartment when a snapshot still contains it', () => {
    const entries = makeEntries(0, 4);
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    store.markDeposited(entries[0]!.tokenId, 'C39', 100);
    const snapshot = [...entries.slice(0, 2), makeEntry(10)];
    const result = store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 1, toVersion: 7, upserts: snapshot }));
    expect(result).toEqual({ outcome: 'applied', state: { version: 7, digest: codeSetDigestOf(snapshot) } });
    expect(store.findEntryByTokenId(entries[0]!.tokenId)).toMatchObject({ state: 'live', currentCompartmentId: 'C39', depositedAt: 100 });
    expect(store.findEntryByTokenId(entries[1]!.tokenId)?.state).toBe('awaiting-deposit');
    expect(store.findEntryByTokenId(makeEntry(10).tokenId)?.state).toBe('awaiting-deposit');
  });

  it('revokes the open entries a snapshot no longer contains', () => {
    const entries = makeEntries(0, 4);
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    store.markDeposited(entries[3]!.tokenId, 'C3', 100);
    store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 1, toVersion: 2, upserts: entries.slice(0, 2) }));
    expect(store.findEntryByTokenId(entries[2]!.tokenId)?.state).toBe('revoked');
    expect(store.findEntryByTokenId(entries[3]!.tokenId)?.state).toBe('revoked');
    expect(store.isTokenRevoked(entries[2]!.tokenId)).toBe(true);
    expect(store.findEntryByCodeDigest(entries[2]!.codeDigest!)).toBeUndefined();
  });

  it('never resurrects a collected or retrieved entry through a snapshot', () => {
    const entries = makeEntries(0, 3);
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    store.markDeposited(entries[0]!.tokenId, 'C0', 10);
    store.markCollected(entries[0]!.tokenId, 20);
    store.markExpired(entries[1]!.tokenId, 30);
    store.markRetrieved(entries[1]!.tokenId, 40);
    const result = store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 1, toVersion: 2, upserts: entries }));
    expect(result.state.digest).toBe(codeSetDigestOf(entries));
    expect(store.findEntryByTokenId(entries[0]!.tokenId)).toMatchObject({ state: 'collected', closedAt: 20 });
    expect(store.findEntryByTokenId(entries[1]!.tokenId)?.state).toBe('retrieved');
    expect(store.findEntryByCodeDigest(entries[0]!.codeDigest!)).toBeUndefined();
  });

  it('keeps collected entries collected but out of the digest when a snapshot omits them', () => {
    const entries = makeEntries(0, 3);
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    store.markDeposited(entries[0]!.tokenId, 'C0', 10);
    store.markCollected(entries[0]!.tokenId, 20);
    const result = store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 1, toVersion: 2, upserts: entries.slice(1) }));
    expect(result.state.digest).toBe(codeSetDigestOf(entries.slice(1)));
    expect(store.findEntryByTokenId(entries[0]!.tokenId)?.state).toBe('collected');
    expect(digestFromRows(store)).toBe(result.state.digest);
  });

  it('ends every batch with a digest equal to the digest recomputed from the rows', () => {
    const entries = makeEntries(0, 30);
    store.applyCodeBatch(makeBatch({ upserts: entries.slice(0, 20) }));
    expect(digestFromRows(store)).toBe(store.codeSetState().digest);
    const changed = makeEntry(5, { token: 'v4.public.reissued' });
    store.applyCodeBatch(makeBatch({
      fromVersion: 1, toVersion: 2, upserts: [changed, ...entries.slice(20)], revocations: [{ tokenId: entries[6]!.tokenId, reason: 'expired' }],
    }));
    expect(digestFromRows(store)).toBe(store.codeSetState().digest);
    const expected = [...entries.filter((_, i) => i !== 5 && i !== 6), changed];
    expect(store.codeSetState().digest).toBe(codeSetDigestOf(expected));
  });

  it('computes the same digest with and without the hashing worker on a large batch', () => {
    const entries = makeEntries(0, 4_000);
    const first = store.applyCodeBatch(makeBatch({ upserts: entries }));
    const plain = openTestStore(join(dir, 'plain.db'), undefined, { parallelDigest: false });
    try {
      const second = plain.applyCodeBatch(makeBatch({ upserts: entries }));
      expect(second.state).toEqual(first.state);
      expect(first.state.digest).toBe(codeSetDigestOf(entries));
      const reissued = entries.slice(0, 2_000).map((e) => ({ ...e, token: `${e.token}.v2` }));
      const third = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: reissued }));
      expect(third.state.digest).toBe(codeSetDigestOf([...reissued, ...entries.slice(2_000)]));
      expect(digestFromRows(store)).toBe(third.state.digest);
    } finally {
      plain.close();
    }
  });

  it('keeps an expired entry expired, out of the set, when a snapshot omits it', () => {
    const entries = makeEntries(0, 2);
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    store.markDeposited(entries[0]!.tokenId, 'C0', 10);
    store.markExpired(entries[0]!.tokenId, 20);
    const result = store.applyCodeBatch(makeBatch({ kind: 'snapshot', fromVersion: 1, toVersion: 2, upserts: entries.slice(1) }));
    expect(result.state.digest).toBe(codeSetDigestOf(entries.slice(1)));
    expect(store.findEntryByTokenId(entries[0]!.tokenId)).toMatchObject({ state: 'expired', currentCompartmentId: 'C0' });
    expect(store.isTokenRevoked(entries[0]!.tokenId)).toBe(false);
  });

  it('rolls a rejected batch back to a savepoint inside an outer transaction', () => {
    store.applyCodeBatch(makeBatch({ upserts: [makeEntry(1)] }));
    store.transaction(() => {
      store.markTokenUsed(makeEntry(50).tokenId, 'pickup', 1);
      const rejected = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [makeEntry(2), makeEntry(3, { codeDigest: digestFor(1) })] }));
      expect(rejected.outcome).toBe('rejected');
    });
    expect(store.isTokenUsed(makeEntry(50).tokenId)).toBe(true);
    expect(store.findEntryByTokenId(makeEntry(2).tokenId)).toBeUndefined();
    expect(store.codeSetState().version).toBe(1);
  });

  it('undoes an applied batch when the outer transaction fails', () => {
    const before = store.codeSetState();
    expect(() =>
      store.transaction(() => {
        expect(store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 1_500) })).outcome).toBe('applied');
        throw new Error('later step failed');
      }),
    ).toThrow('later step failed');
    expect(store.codeSetState()).toEqual(before);
    expect(store.findEntryByTokenId(makeEntry(0).tokenId)).toBeUndefined();
    expect(store.auditHighWatermark()).toBe(0);
  });

  it('makes return drop-off entries live from the start', () => {
    const e = makeEntry(1, { kind: 'return-dropoff', compartmentId: 'C7' });
    store.applyCodeBatch(makeBatch({ upserts: [e] }));
    expect(store.findEntryByCodeDigest(e.codeDigest!)).toMatchObject({ state: 'live', currentCompartmentId: 'C7' });
    expect(store.liveCodeCount()).toBe(1);
  });

  it('trusts and revokes keyring keys, and refuses to trust a revoked kid again', () => {
    const key = publicKeyText();
    store.applyCodeBatch(makeBatch({ keyring: [{ op: 'trust', kid: 'k1', publicKey: key, notAfter: 5000 }] }));
    expect(store.keyringRows()).toEqual([{ kid: 'k1', publicKey: key, notAfter: 5000, revoked: false }]);
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, keyring: [{ op: 'revoke', kid: 'k1' }] }));
    expect(store.keyringRows()[0]?.revoked).toBe(true);
    const again = store.applyCodeBatch(makeBatch({ fromVersion: 2, toVersion: 3, upserts: [makeEntry(1)], keyring: [{ op: 'trust', kid: 'k1', publicKey: key }] }));
    expect(again).toMatchObject({ outcome: 'rejected' });
    expect(store.findEntryByTokenId(makeEntry(1).tokenId)).toBeUndefined();
    expect(store.keyringRows()[0]?.revoked).toBe(true);
  });

  it('refuses to rebind a kid to another public key', () => {
    store.applyCodeBatch(makeBatch({ keyring: [{ op: 'trust', kid: 'k1', publicKey: publicKeyText() }] }));
    const result = store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, keyring: [{ op: 'trust', kid: 'k1', publicKey: publicKeyText() }] }));
    expect(result.outcome).toBe('rejected');
  });

  it('stores a tombstone when revoking a kid it never trusted, so it can never be trusted', () => {
    store.applyCodeBatch(makeBatch({ keyring: [{ op: 'revoke', kid: 'k9' }] }));
    expect(store.keyringRows()).toEqual([{ kid: 'k9', publicKey: '', revoked: true }]);
    expect(store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, keyring: [{ op: 'trust', kid: 'k9', publicKey: publicKeyText() }] })).outcome).toBe('rejected');
  });

  it('writes one audit record per applied batch, in the same transaction', () => {
    store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 3) }));
    const records = store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 10 });
    expect(records).toHaveLength(1);
    expect(JSON.parse(records[0]!.dataJson)).toMatchObject({ kind: 'delta', toVersion: 1, upserts: 3 });
    store.applyCodeBatch(makeBatch({ fromVersion: 1, toVersion: 2, upserts: [makeEntry(9, { codeDigest: digestFor(0) })] }));
    expect(store.auditHighWatermark()).toBe(1);
  });
});
