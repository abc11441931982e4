import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EMPTY_CODE_SET_DIGEST, encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher, paidOrder, ship } from '../testing/order-helpers.js';

// Repeated snapshot requests from one locker share one snapshot in flight (real bridge,
// real SQLite, real signatures; the publisher records what would go to the broker).

const request = (version: number): Buffer =>
  encodeMessage('codes/snapshot-request', { ...newEnvelope('snapshot-request', Date.now()), reason: 'gap', state: { version, digest: EMPTY_CODE_SET_DIGEST } });

describe('snapshot coalescing', () => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  const snapshotsFor = (lockerId: string) => pub.batches.filter((b) => b.batch.kind === 'snapshot' && b.batch.lockerId === lockerId);
  beforeEach(async () => {
    f = await makeBackend({ config: { codeSync: { snapshotWindowMs: 10_000 } } });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    await f.services.lockers.register(lockerInput('lk-b', 52.53, 13.405, { M: 2 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
    const o = await paidOrder(f, 'ord-snap', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.bridge.idle();
    pub.batches.length = 0;
  });
  afterEach(() => f.close());

  it('answers five requests from one locker inside the window with one snapshot, not holding back another locker', async () => {
    const before = (await f.store.codeSets.get('lk-a'))!.version;
    const handled = Array.from({ length: 5 }, () => f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), request(0)));
    handled.push(f.services.bridge.onMessage(topicFor('lk-b', 'codes/snapshot-request'), request(0)));
    await Promise.all(handled);
    expect(snapshotsFor('lk-a')).toHaveLength(1);
    expect(snapshotsFor('lk-b')).toHaveLength(1); // another locker is not held back
    expect((await f.store.codeSets.get('lk-a'))!.version).toBe(before);
  });

  it('sends one more snapshot after the window when a coalesced request is still unanswered by an ack', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), request(0));
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), request(0));
    await f.services.sweeper.tick();
    expect(snapshotsFor('lk-a')).toHaveLength(1);
    f.clock.advance(10_000);
    await f.services.sweeper.tick();
    expect(snapshotsFor('lk-a')).toHaveLength(2);
    f.clock.advance(10_000);
    await f.services.sweeper.tick();
    expect(snapshotsFor('lk-a')).toHaveLength(2); // nothing was pending any more
  });

  it('answers a new request at once after the locker acked the snapshot, and nothing is re-sent for the acked one', async () => {
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), request(0));
    const first = snapshotsFor('lk-a')[0]!;
    const ack = encodeMessage('codes/ack', {
      ...newEnvelope('code-ack', Date.now()),
      inReplyTo: first.id,
      outcome: 'applied',
      batch: { kind: 'snapshot', fromVersion: first.batch.fromVersion, toVersion: first.batch.toVersion },
      state: { version: first.batch.toVersion, digest: (await f.store.codeSets.get('lk-a'))!.digest },
    });
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/ack'), ack);
    await f.services.bridge.onMessage(topicFor('lk-a', 'codes/snapshot-request'), request(first.batch.toVersion));
    expect(snapshotsFor('lk-a')).toHaveLength(2);
    f.clock.advance(10_000);
    await f.services.sweeper.tick();
    expect(snapshotsFor('lk-a')).toHaveLength(2);
  });
});
