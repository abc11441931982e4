import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, auditRecordHash, encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { SqlCodeSetRepository } from '../store/sql/code-set-repository.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher, paidOrder, ship } from '../testing/order-helpers.js';

const online = (version: number, digest: string, ackedSeq = 0): Buffer =>
  encodeMessage('presence', { ...newEnvelope('presence', Date.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0', codeSet: { version, digest }, audit: { highSeq: ackedSeq, ackedSeq } });
const snapshotRequest = (): Buffer => encodeMessage('codes/snapshot-request', { ...newEnvelope('snapshot-request', Date.now()), reason: 'gap', state: { version: 0, digest: EMPTY_CODE_SET_DIGEST } });
const offline = (): Buffer => encodeMessage('presence', { ...newEnvelope('presence', Date.now()), status: 'offline', bootId: 'boot-0001', cause: 'will' });

describe('locker bridge', () => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  const lockerRows = async (): Promise<string> => JSON.stringify([await f.store.lockers.get('lk-a'), await f.store.lockers.get('lk-zz'), await f.store.codeSets.get('lk-a')]);
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await f.close();
  });

  it('marks a locker offline from its retained last will and stops offering it after the grace time', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    expect((await f.services.lockers.get('lk-a')).online).toBe(true);
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), offline());
    expect(await f.services.lockers.get('lk-a')).toMatchObject({ online: false, offlineSince: f.clock.now() });
    expect(await f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, limit: 5 })).toHaveLength(1);
    f.clock.advance(f.config.presence.offlineGraceMs + 1);
    expect(await f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, limit: 5 })).toHaveLength(0);
  });

  it('handles one locker\'s messages one at a time in arrival order, without holding up another locker', async () => {
    await f.services.lockers.register(lockerInput('lk-b', 52.53, 13.405, { M: 1 }));
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    // The broker is slow to take lk-a's snapshot: its handler is still publishing.
    let release = (): void => undefined;
    const slow = new Promise<void>((resolve) => (release = resolve));
    f.services.bridge.attach({ publish: (topic) => (topic === topicFor('lk-a', 'codes/batch') ? slow : Promise.resolve()) });
    const snapshot = f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), snapshotRequest());
    const will = f.services.bridge.onMessage(topicFor('lk-a', 'presence'), offline());
    await f.services.bridge.onMessage(topicFor('lk-b', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    expect((await f.services.lockers.get('lk-b')).online).toBe(true);
    expect((await f.services.lockers.get('lk-a')).online).toBe(true); // the will waits its turn
    release();
    await Promise.all([snapshot, will]);
    expect((await f.services.lockers.get('lk-a')).online).toBe(false);
  });

  it('answers a birth message from an older version with the missing delta, and a digest mismatch with a snapshot', async () => {
    const o = await paidOrder(f, 'ord-bridge', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await ship(f, o.id, ['l2'], 'lk-a', 'M', 'TRK2');
    await f.services.bridge.idle();
    pub.batches.length = 0;
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(1, 'ab'.repeat(32)));
    expect(pub.batches.at(-1)?.batch).toMatchObject({ kind: 'delta', fromVersion: 1, toVersion: 2 });
    const ours = (await f.store.codeSets.get('lk-a'))!;
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(ours.version, 'cd'.repeat(32)));
    const snap = pub.batches.at(-1)!.batch;
    expect(snap).toMatchObject({ kind: 'snapshot', fromVersion: ours.version });
    expect(snap.toVersion).toBeGreaterThan(ours.version);
    expect(snap.upserts).toHaveLength(2);
  });

  it('sends a snapshot, not a delta, to a locker behind the revocations the retention deleted', async () => {
    const o1 = await paidOrder(f, 'ord-old', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, o1.id, ['l1'], 'lk-a', 'M', 'TRK1');
    const first = (await f.store.codeSets.liveEntries('lk-a'))[0]!;
    // The locker last synced here: it holds the first parcel's code.
    const held = (await f.store.codeSets.get('lk-a'))!;
    await f.services.codeSets.revoke('lk-a', first.tokenId, 'cancelled');
    // A month after that token expired the retention deletes its revocation.
    f.clock.advance(f.config.pickup.tokenTtlMs + f.config.codeSync.revokedRetentionMs + 1);
    const o2 = await paidOrder(f, 'ord-new', [{ lineId: 'l2', size: 'M' }]);
    await ship(f, o2.id, ['l2'], 'lk-a', 'M', 'TRK2');
    await f.services.sweeper.tick();
    expect(await f.store.codeSets.entry('lk-a', first.tokenId)).toBeUndefined();
    const set = (await f.store.codeSets.get('lk-a'))!;
    expect(set.deltaFloor).toBeGreaterThan(held.version);
    await f.services.bridge.idle();
    pub.batches.length = 0;

    // A delta from where it stands would lack the revocation: the first code would keep
    // opening the compartment. It gets every live entry instead.
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(held.version, held.digest));
    const snap = pub.batches.at(-1)!.batch;
    expect(snap).toMatchObject({ kind: 'snapshot', fromVersion: held.version, toVersion: set.version, revocations: [] });
    expect(snap.upserts.map((u) => u.tokenId)).toEqual((await f.store.codeSets.liveEntries('lk-a')).map((e) => e.tokenId));
    expect(snap.upserts.map((u) => u.tokenId)).not.toContain(first.tokenId);
    // Like any snapshot it carries the keyring, though the keyring did not change.
    expect(snap.keyring).toEqual(await f.services.keys.keyringChanges());
    expect(snap.keyring).not.toHaveLength(0);
    // A locker at or past the floor still gets a delta.
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(set.deltaFloor, 'ab'.repeat(32)));
    expect(pub.batches.at(-1)?.batch).toMatchObject({ kind: 'delta', fromVersion: set.deltaFloor, toVersion: set.version });
  });

  it('sends the keyring again to a locker behind the batch that carried it (a fresh or restored database)', async () => {
    const o = await paidOrder(f, 'ord-keyring', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.bridge.idle();
    const first = pub.batches.at(-1)!.batch;
    const keyring = await f.services.keys.keyringChanges();
    // The first batch carried the keyring; the delta after it does not repeat it.
    expect(first.keyring).toEqual(keyring);
    await ship(f, o.id, ['l2'], 'lk-a', 'M', 'TRK2');
    await f.services.bridge.idle();
    expect(pub.batches.at(-1)?.batch.keyring).toEqual([]);
    const set = (await f.store.codeSets.get('lk-a'))!;
    pub.batches.length = 0;

    // The locker's database was replaced (reset procedure): version 0, and only the keys of
    // its config, not the revocations and new keys the keyring brought since. The delta
    // that rebuilds its set must bring the keyring too.
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    expect(pub.batches.at(-1)?.batch).toMatchObject({ kind: 'delta', fromVersion: 0, toVersion: set.version, keyring });
    // A locker that already applied the batch with the keyring gets a plain delta.
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(first.toVersion, 'ab'.repeat(32)));
    expect(pub.batches.at(-1)?.batch).toMatchObject({ kind: 'delta', fromVersion: first.toVersion, keyring: [] });
  });

  it('publishes each version once: changes made together go out as one delta, and a second publish finds nothing new', async () => {
    const o = await paidOrder(f, 'ord-once', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }]);
    await f.services.bridge.idle();
    pub.batches.length = 0;
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await ship(f, o.id, ['l2'], 'lk-a', 'M', 'TRK2');
    await f.services.bridge.idle();
    await f.services.bridge.publishDelta('lk-a');
    const set = (await f.store.codeSets.get('lk-a'))!;
    const versions = pub.batches.flatMap((b) => Array.from({ length: b.batch.toVersion - b.batch.fromVersion }, (_, i) => b.batch.fromVersion + i + 1));
    expect(versions).toEqual([...new Set(versions)]);
    expect(Math.max(...versions)).toBe(set.version);
    expect(set.publishedVersion).toBe(set.version);
    expect(pub.batches.flatMap((b) => b.batch.upserts)).toHaveLength(2);
  });

  it('records the keys a locker trusts when an ack shows they changed, not on every ack', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), snapshotRequest());
    const sent = pub.batches.at(-1)!;
    expect(sent.batch.keyring.length).toBeGreaterThan(0);
    const ack = async (): Promise<void> => {
      const state = (await f.store.codeSets.get('lk-a'))!;
      const message = encodeMessage('codes/ack', {
        ...newEnvelope('code-ack', Date.now()),
        inReplyTo: sent.id,
        outcome: 'applied',
        batch: { kind: sent.batch.kind, fromVersion: sent.batch.fromVersion, toVersion: sent.batch.toVersion },
        state: { version: sent.batch.toVersion, digest: state.digest },
      });
      await f.services.bridge.onMessage(topicFor('lk-a', 'codes/ack'), message);
    };
    const writes = vi.spyOn(SqlCodeSetRepository.prototype, 'setTrustedKids');
    // Registration recorded the keyring's kids; the acks confirm the same ones: no write.
    for (let i = 0; i < 3; i++) await ack();
    expect(writes).not.toHaveBeenCalled();
    // A record that differs (here: emptied, as for a locker registered before its keys) is
    // written once, by the first ack, and not again.
    await f.store.codeSets.setTrustedKids('lk-a', []);
    writes.mockClear();
    for (let i = 0; i < 3; i++) await ack();
    const trusted = await f.services.keys.trustedKids(f.clock.now());
    expect(writes.mock.calls).toEqual([['lk-a', trusted]]);
    expect((await f.store.codeSets.get('lk-a'))?.trustedKids).toEqual([...trusted].sort());
  });

  it("names the hash of each priority record it acknowledges ahead of the backlog, so a restored copy can tell it is not its own", async () => {
    const epoch = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    // Seqs 1-4 (the normal lane) are still to come: 5 can only be acknowledged by itself.
    const prevHash = 'ab'.repeat(32);
    const dataJson = JSON.stringify({ compartmentId: 'M1' });
    const hash = auditRecordHash(prevHash, 5, f.clock.now(), 'door.uncommanded-open', dataJson);
    const record = { seq: 5, at: f.clock.now(), type: 'door.uncommanded-open', lane: 'priority' as const, dataJson, prevHash, hash };
    pub.raw.length = 0;
    await f.services.bridge.onMessage(topicFor('lk-a', 'audit/upload'), encodeMessage('audit/upload', { ...newEnvelope('audit-upload', Date.now()), dbEpoch: epoch, lane: 'priority', ackedSeq: 0, highSeq: 5, records: [record] }));
    await f.services.bridge.idle();
    const ack = pub.raw.find((m) => m.topic === topicFor('lk-a', 'audit/ack'));
    expect(ack).toBeDefined();
    // The claims as the locker reads them once the seal verifies (PASETO v4.public: message, then a 64-byte signature).
    const seal = (JSON.parse(ack!.payload.toString()) as { seal: string }).seal;
    const claims = JSON.parse(Buffer.from(seal.split('.')[2]!, 'base64url').subarray(0, -64).toString()) as { contiguousSeq: number; alsoSeqs: number[]; alsoHashes?: string[] };
    expect(claims).toMatchObject({ contiguousSeq: 0, alsoSeqs: [5], alsoHashes: [hash] });
  });

  it('rejects garbage, wrong-schema, wrong-type and unknown-locker messages without changing anything', async () => {
    const before = await lockerRows();
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), Buffer.from('not json'));
    await f.services.bridge.onMessage(topicFor('lk-a', 'presence'), Buffer.from(JSON.stringify({ v: 1, type: 'presence', id: 'abcdefgh', sentAt: 1, status: 'weird' })));
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/ack'), online(0, EMPTY_CODE_SET_DIGEST));
    await f.services.bridge.onMessage(topicFor('lk-zz', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    await f.services.bridge.onMessage('elsewhere/topic', Buffer.from('{}'));
    await f.services.bridge.onMessage(topicFor('lk-a', 'audit/upload'), Buffer.alloc(5 * 1024 * 1024, 0x20));
    expect(await lockerRows()).toBe(before);
    expect(Object.fromEntries(f.services.bridge.rejections())).toEqual({ 'not-json': 1, schema: 1, 'wrong-type': 1, 'unknown-locker': 1, 'unknown-topic': 1, oversized: 1 });
    expect(pub.raw).toHaveLength(0);
  });
});
