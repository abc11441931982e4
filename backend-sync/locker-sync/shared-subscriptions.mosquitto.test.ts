import { connect } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { silentLogger } from '../shared/logger.js';
import { waitFor } from '../testing/wait-for.js';
import { bridgeSubscriptionsFor, signedUplinkSubscriptionsFor } from './locker-bridge.js';
import { MqttTransport } from './mqtt-transport.js';

// Several backend instances on one real Mosquitto (issue 9): each locker uplink reaches
// exactly one instance, spread over all of them, while every instance gets the retained
// presences it re-syncs lockers from.

const skip = !hasMosquitto && process.env['CI'] === undefined;
let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A backend instance's transport in group 'fleet', stopped after the test; not started. */
function groupMember(broker: MosquittoHarness, name: string, onMessage: (topic: string, payload: Buffer) => void): MqttTransport {
  const t = new MqttTransport({
    url: broker.url,
    clientId: `backend-${name}`,
    protocolVersion: 5,
    sessionExpirySeconds: 60,
    subscriptions: bridgeSubscriptionsFor('fleet'),
    logger: silentLogger(),
    onMessage: (topic, payload) => Promise.resolve(onMessage(topic, payload)),
  });
  cleanup.push(() => t.stop());
  return t;
}

describe.skipIf(skip)('backend instances on MQTT 5 shared subscriptions (mosquitto)', () => {
  it('splits uplinks between instances, each delivered once, and gives every instance the retained presences', async () => {
    const broker = await MosquittoHarness.start();
    cleanup.push(() => broker.close());
    const locker = connect(broker.url, { clientId: 'lk-1', protocolVersion: 5 });
    cleanup.push(() => locker.endAsync());
    await new Promise<void>((r) => locker.once('connect', () => r()));
    await locker.publishAsync('lockers/lk-1/presence', '{"retained":true}', { qos: 1, retain: true });

    const received: Array<Map<string, number>> = [];
    for (const name of ['a', 'b', 'c']) {
      const seen = new Map<string, number>();
      received.push(seen);
      const t = groupMember(broker, name, (topic, payload) => {
        const key = `${topic} ${payload.toString()}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      });
      await t.start();
    }
    for (let i = 0; i < 300; i++) await locker.publishAsync('lockers/lk-1/audit/upload', String(i), { qos: 1 });
    const total = (): number => received.reduce((n, m) => n + [...m.keys()].filter((k) => k.startsWith('lockers/lk-1/audit/upload')).length, 0);
    await waitFor(() => total() === 300, 'all 300 uploads delivered');
    const perInstance = received.map((m) => [...m.keys()].filter((k) => k.startsWith('lockers/lk-1/audit/upload')).length);
    expect(perInstance.reduce((a, b) => a + b, 0)).toBe(300);
    for (const n of perInstance) expect(n).toBeGreaterThan(0);
    // No upload reached two instances, and none reached one twice.
    const all = received.flatMap((m) => [...m].filter(([k]) => k.startsWith('lockers/lk-1/audit/upload')));
    expect(new Set(all.map(([k]) => k)).size).toBe(300);
    expect(all.every(([, n]) => n === 1)).toBe(true);
    for (const m of received) expect(m.get('lockers/lk-1/presence {"retained":true}')).toBe(1);
  });

  it('hands the uplinks an instance cannot sign for to the rest of the group while paused, also across its reconnect', async () => {
    const broker = await MosquittoHarness.start();
    cleanup.push(() => broker.close());
    const locker = connect(broker.url, { clientId: 'lk-1', protocolVersion: 5 });
    cleanup.push(() => locker.endAsync());
    await new Promise<void>((r) => locker.once('connect', () => r()));
    const counts = new Map<string, number>();
    const instance = (name: string): MqttTransport =>
      groupMember(broker, name, (topic) => {
        const key = `${name} ${topic.split('/').slice(2).join('/')}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      });
    const n = (key: string): number => counts.get(key) ?? 0;
    const send = async (suffix: string, times: number): Promise<void> => {
      for (let i = 0; i < times; i++) await locker.publishAsync(`lockers/lk-1/${suffix}`, String(i), { qos: 1 });
    };
    const signed = signedUplinkSubscriptionsFor('fleet');
    expect(signedUplinkSubscriptionsFor(undefined)).toEqual([]);
    const a = instance('a');
    const b = instance('b');
    await a.start();
    await b.start();

    await b.pause(signed);
    await send('audit/upload', 100);
    await send('health', 100);
    await waitFor(() => n('a audit/upload') === 100 && n('a health') + n('b health') === 100, 'uploads and health delivered');
    expect(n('b audit/upload')).toBe(0);
    expect(n('b health')).toBeGreaterThan(0);

    await b.resume(signed);
    await send('audit/upload', 100);
    await waitFor(() => n('a audit/upload') + n('b audit/upload') === 200, 'second uploads delivered');
    expect(n('b audit/upload')).toBeGreaterThan(0);

    // B goes away subscribed; it comes back (same session) already paused: the broker's
    // copy of its subscription is dropped on connect.
    await b.stop();
    const b2 = instance('b');
    await b2.pause(signed);
    await b2.start();
    const before = n('a audit/upload');
    await send('audit/upload', 100);
    await waitFor(() => n('a audit/upload') + n('b audit/upload') >= 300 && n('a audit/upload') - before === 100, 'third uploads delivered to A');
    expect(n('a audit/upload') + n('b audit/upload')).toBe(300);
  });
});
