import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher, flushImmediate, paidOrder, ship } from '../testing/order-helpers.js';

const online = (version: number, digest: string, ackedSeq = 0): Buffer =>
  encodeMessage('presence', { ...newEnvelope('presence', Date.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0', codeSet: { version, digest }, audit: { highSeq: ackedSeq, ackedSeq } });
const offline = (): Buffer => encodeMessage('presence', { ...newEnvelope('presence', Date.now()), status: 'offline', bootId: 'boot-0001', cause: 'will' });

describe('locker bridge', () => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  beforeEach(() => {
    f = makeBackend();
    f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
  });
  afterEach(() => f.close());

  it('marks a locker offline from its retained last will and stops offering it after the grace time', () => {
    f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    expect(f.services.lockers.get('lk-a').online).toBe(true);
    f.services.bridge.onMessage(topicFor('lk-a', 'presence'), offline());
    expect(f.services.lockers.get('lk-a')).toMatchObject({ online: false, offlineSince: f.clock.now() });
    expect(f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, limit: 5 })).toHaveLength(1);
    f.clock.advance(f.config.presence.offlineGraceMs + 1);
    expect(f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, limit: 5 })).toHaveLength(0);
  });

  it('answers a birth message from an older version with the missing delta, and a digest mismatch with a snapshot', async () => {
    const o = await paidOrder(f, 'ord-bridge', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }]);
    ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    ship(f, o.id, ['l2'], 'lk-a', 'M', 'TRK2');
    await flushImmediate();
    pub.batches.length = 0;
    f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(1, 'ab'.repeat(32)));
    await flushImmediate();
    expect(pub.batches.at(-1)?.batch).toMatchObject({ kind: 'delta', fromVersion: 1, toVersion: 2 });
    const ours = f.store.codeSets.get('lk-a')!;
    f.services.bridge.onMessage(topicFor('lk-a', 'presence'), online(ours.version, 'cd'.repeat(32)));
    await flushImmediate();
    const snap = pub.batches.at(-1)!.batch;
    expect(snap).toMatchObject({ kind: 'snapshot', fromVersion: ours.version });
    expect(snap.toVersion).toBeGreaterThan(ours.version);
    expect(snap.upserts).toHaveLength(2);
  });

  it('rejects garbage, wrong-schema, wrong-type and unknown-locker messages without changing anything', () => {
    const before = JSON.stringify(f.store.db.prepare('SELECT * FROM lockers').all());
    f.services.bridge.onMessage(topicFor('lk-a', 'presence'), Buffer.from('not json'));
    f.services.bridge.onMessage(topicFor('lk-a', 'presence'), Buffer.from(JSON.stringify({ v: 1, type: 'presence', id: 'abcdefgh', sentAt: 1, status: 'weird' })));
    f.services.bridge.onMessage(topicFor('lk-a', 'codes/ack'), online(0, EMPTY_CODE_SET_DIGEST));
    f.services.bridge.onMessage(topicFor('lk-zz', 'presence'), online(0, EMPTY_CODE_SET_DIGEST));
    f.services.bridge.onMessage('elsewhere/topic', Buffer.from('{}'));
    f.services.bridge.onMessage(topicFor('lk-a', 'audit/upload'), Buffer.alloc(5 * 1024 * 1024, 0x20));
    expect(JSON.stringify(f.store.db.prepare('SELECT * FROM lockers').all())).toBe(before);
    expect(Object.fromEntries(f.services.bridge.rejections())).toEqual({ 'not-json': 1, schema: 1, 'wrong-type': 1, 'unknown-locker': 1, 'unknown-topic': 1, oversized: 1 });
    expect(pub.raw).toHaveLength(0);
  });
});
