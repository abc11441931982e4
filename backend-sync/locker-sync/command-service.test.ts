import { afterEach, describe, expect, it } from 'vitest';
import { encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { MqttUnconfirmedError } from './mqtt-transport.js';

// A pass publishes every due command it claimed: one that fails to seal (a database error
// reading its locker's set) must not hold back the ones after it for the 30 s lease.

describe('publishing due commands', () => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('a command that fails mid-pass is retried later; the others in the pass go out', async () => {
    const b = await makeBackend();
    f = b;
    for (const id of ['lk-a', 'lk-b']) {
      await b.services.lockers.register(lockerInput(id, 52.52, 13.405, { M: 1 }));
      await b.services.bridge.onMessage(
        topicFor(id, 'presence'),
        encodeMessage('presence', {
          ...newEnvelope('presence', b.clock.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0',
          codeSet: await b.store.codeSets.ensure(id), audit: { highSeq: 0, ackedSeq: 0 },
        }),
      );
    }
    // Stored while no broker is attached: both wait for the next pass.
    await b.services.commands.send('lk-a', { kind: 'resync' }, 'support', 300_000);
    await b.services.commands.send('lk-b', { kind: 'resync' }, 'support', 300_000);
    const published: string[] = [];
    b.services.commands.attach({ publish: (topic) => Promise.resolve(void published.push(topic)) });
    const get = b.store.codeSets.get.bind(b.store.codeSets);
    let calls = 0;
    b.store.codeSets.get = (lockerId) => (++calls === 1 ? Promise.reject(new Error('database gone')) : get(lockerId));
    b.clock.advance(60_000);

    expect(await b.services.commands.publishDue()).toBe(1);
    expect(published).toHaveLength(1);
    const failed = published[0] === topicFor('lk-a', 'cmd') ? topicFor('lk-b', 'cmd') : topicFor('lk-a', 'cmd');
    // The failed one is still pending and goes out once its lease is over (with the other's
    // retry: no locker replied yet).
    b.clock.advance(31_000);
    expect(await b.services.commands.publishDue()).toBe(2);
    expect(published.slice(1)).toContain(failed);
  });

  it('stops a pass at the first group the broker is offline for, instead of queueing every due command in mqtt.js', async () => {
    // Offline, the transport rejects at once and mqtt.js keeps each message in memory until
    // the next connection: plowing on queued up to 100 commands per pass, each with an
    // attempt (and its backoff) spent, as a timeout already stops the pass.
    const b = await makeBackend();
    f = b;
    await b.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    await b.services.bridge.onMessage(
      topicFor('lk-a', 'presence'),
      encodeMessage('presence', {
        ...newEnvelope('presence', b.clock.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0',
        codeSet: await b.store.codeSets.ensure('lk-a'), audit: { highSeq: 0, ackedSeq: 0 },
      }),
    );
    const txns: string[] = [];
    for (let i = 0; i < 20; i++) txns.push((await b.services.commands.send('lk-a', { kind: 'resync' }, 'support', 300_000)).transactionId);
    let publishes = 0;
    b.services.commands.attach({ publish: (topic) => (publishes++, Promise.reject(new MqttUnconfirmedError('offline', topic))) });
    b.clock.advance(10_000);

    expect(await b.services.commands.publishDue()).toBe(0);
    expect(publishes).toBeGreaterThan(0);
    expect(publishes).toBeLessThan(20);
    // Those not reached are still due, attempts untouched, first in line next pass.
    const attempts = await Promise.all(txns.map(async (t) => (await b.services.commands.get(t)).attempts));
    expect(attempts.filter((a) => a === 1)).toHaveLength(20 - publishes);
  });
});
