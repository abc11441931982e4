import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, connectAsync, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { topicFor } from '@locker/contract/topics.js';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';

// The queue limits of the shipped mosquitto.conf, against a real Mosquitto: a burst of
// 2,000 signed commands published while the locker is offline must all reach it when it
// comes back (with max_queued_messages 1000, 961 of them were silently dropped).

const skip = !hasMosquitto && !process.env['CI'];
if (skip) console.warn('queue.mosquitto.test.ts skipped: mosquitto binary not found (apt-get install mosquitto)');

const BURST = 2_000;
const LOCKER = 'locker-queue-1';
const EPOCH = '0123456789abcdef0123456789abcdef';

/** The queue-related lines of the production config, as shipped. */
function shippedQueueConfig(): string[] {
  const conf = readFileSync(join(import.meta.dirname, 'mosquitto.conf'), 'utf8');
  return conf.split('\n').filter((l) => /^(max_queued_messages|max_queued_bytes|max_inflight_messages)\s/.test(l));
}

describe.skipIf(skip)('Mosquitto queue limits (shipped mosquitto.conf)', () => {
  let broker: MosquittoHarness | undefined;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    await broker?.close();
  });

  it(`delivers all of a ${String(BURST)}-command burst to an offline persistent session`, async () => {
    const queueConfig = shippedQueueConfig();
    expect(queueConfig.map((l) => l.split(/\s+/)[0])).toEqual(['max_queued_messages', 'max_queued_bytes', 'max_inflight_messages']);
    // The harness's own defaults come first; the shipped lines override them.
    broker = await MosquittoHarness.start({ extraConfig: queueConfig });
    const cmdTopic = topicFor(LOCKER, 'cmd');
    const sessionOptions = { clientId: LOCKER, clean: false, protocolVersion: 5 as const, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0 };

    // The locker's persistent session exists, then it goes offline.
    const first = await connectAsync(broker.url, sessionOptions);
    await first.subscribeAsync(cmdTopic, { qos: 1 });
    await first.endAsync();

    const backend = await connectAsync(broker.url, { clientId: 'backend-queue', clean: true, protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(backend);
    const keys = makeTestKeys();
    const sent = new Set<string>();
    await Promise.all(
      Array.from({ length: BURST }, (_, i) => {
        const txid = `txn-burst-${String(i).padStart(5, '0')}`;
        sent.add(txid);
        const msg = keys.signer.command(LOCKER, EPOCH, txid, { kind: 'remote-open', compartmentId: 'C1', reason: 'burst' }, 60_000);
        return backend.publishAsync(cmdTopic, JSON.stringify(msg), { qos: 1 });
      }),
    );

    // Back online: the broker delivers the queue.
    // (Listener attached before the CONNACK: queued messages follow it immediately.)
    const received = new Set<string>();
    const locker = connect(broker.url, sessionOptions);
    clients.push(locker);
    locker.on('message', (_t, payload) => {
      received.add((JSON.parse(payload.toString()) as { transactionId: string }).transactionId);
    });
    const until = Date.now() + 30_000;
    while (received.size < BURST && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(received.size).toBe(BURST);
    expect([...sent].filter((t) => !received.has(t))).toEqual([]);
  }, 60_000);
});
