import { connect, type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import type { Logger } from '../shared/logger.js';
import { encodeMessage, newEnvelope, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { recordingLogger } from '../testing/recording-logger.js';
import { waitFor } from '../testing/wait-for.js';
import { CommandService } from './command-service.js';
import { bridgeSubscriptions } from './locker-bridge.js';
import { MqttTransport, MqttUnconfirmedError } from './mqtt-transport.js';

// The broker goes away (restart, crash, network) under a running backend. mqtt.js settles a
// QoS 1 publish only with the broker's PUBACK: offline it queues the message and waits for
// the next connection, and its graceful end() waits for every unacknowledged message after it
// stopped reconnecting. Awaited as it was, one due command's publish held the sweeper's
// whole pass (every task after it: holds, outbox, refunds, tracking) and POST commands for as
// long as the broker was away, and SIGTERM's shutdown never got past it: the supervisor
// killed the process. A real broker (aedes in-process), killed and restarted.

const LOCKER = 'lk-broker-1';

async function backendWithLocker(logger: Logger): Promise<BackendFixture> {
  const f = await makeBackend({ logger });
  await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { M: 1 }));
  await f.services.bridge.onMessage(
    topicFor(LOCKER, 'presence'),
    encodeMessage('presence', {
      ...newEnvelope('presence', f.clock.now()), status: 'online', bootId: 'boot-0001', firmwareVersion: '1.0.0', dbEpoch: 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0',
      codeSet: await f.store.codeSets.ensure(LOCKER), audit: { highSeq: 0, ackedSeq: 0 },
    }),
  );
  await f.services.bridge.idle();
  return f;
}

/** Settles within `ms`, or says it is still pending (the old code's hang). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'still pending'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still pending'>((r) => (timer = setTimeout(() => r('still pending'), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('publishing to lockers while the broker is away', () => {
  let broker: AedesHarness | undefined;
  let f: BackendFixture | undefined;
  let transport: MqttTransport | undefined;
  let peer: MqttClient | undefined;

  afterEach(async () => {
    peer?.end(true);
    await transport?.stop();
    await f?.close();
    await broker?.close();
    peer = transport = f = broker = undefined;
  });

  it('a sweeper pass and POST commands finish while the broker is down; the command goes out once it is back', async () => {
    broker = await AedesHarness.start();
    const rec = recordingLogger();
    const b = await backendWithLocker(rec.logger);
    f = b;
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-outage', subscriptions: bridgeSubscriptions, logger: rec.logger, onMessage: (t, p) => b.services.bridge.onMessage(t, p) });
    b.services.bridge.attach(transport);
    await transport.start();
    const app = await b.app();
    await broker.kill();
    await waitFor(() => !transport!.connected, 'the backend to notice the broker is gone');

    // Stored and answered, still pending: it was not confirmed by the broker.
    const res = await within(app.inject({ method: 'POST', url: `/lockers/${LOCKER}/commands`, payload: { command: { kind: 'resync' }, ttlMs: 300_000 }, headers: { 'idempotency-key': 'cmd-during-outage' } }), 3_000);
    expect(res).not.toBe('still pending');
    if (res === 'still pending') return;
    expect(res.statusCode).toBe(202);
    const txn = res.json<{ transactionId: string; state: string }>();
    expect(txn.state).toBe('pending');
    expect(rec.lines.some((l) => l['msg'] === 'command.publish_failed' && l['transactionId'] === txn.transactionId)).toBe(true);

    // The retry is due: the pass publishes it (unconfirmed) and goes on to the tasks after it.
    b.clock.advance(10_000);
    expect(await within(b.services.sweeper.tick(), 3_000)).not.toBe('still pending');
    expect((await b.services.commands.get(txn.transactionId)).attempts).toBe(2);

    // The broker is back: the next pass re-publishes the command and the locker gets it.
    await broker.restart();
    const got: string[] = [];
    peer = connect(broker.url, { clientId: 'locker-peer' });
    peer.on('message', (topic) => got.push(topic));
    await peer.subscribeAsync(topicFor(LOCKER, 'cmd'), { qos: 1 });
    await waitFor(() => transport!.connected, 'the backend to reconnect');
    b.clock.advance(30_000);
    await b.services.sweeper.tick();
    await waitFor(() => got.includes(topicFor(LOCKER, 'cmd')), 'the command to reach the locker');
  });

  it('code-set changes made while the broker is down are not queued one batch each: one delta goes out after it is back', async () => {
    // mqtt.js keeps every offline publish in memory until the next connection and then sends
    // them one round trip at a time, ahead of anything new. A batch sealed and marked
    // published per change made that queue grow with the outage (a busy fleet: thousands of
    // changes an hour; past 65,535 mqtt.js's message ids wrap and overwrite queued messages),
    // and after reconnect fresh acks and commands waited behind it past publishTimeoutMs.
    broker = await AedesHarness.start();
    const rec = recordingLogger();
    const b = await backendWithLocker(rec.logger);
    f = b;
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-offline-changes', subscriptions: bridgeSubscriptions, logger: rec.logger, onMessage: (t, p) => b.services.bridge.onMessage(t, p) });
    b.services.bridge.attach(transport);
    await transport.start();
    const before = (await b.store.codeSets.ensure(LOCKER)).version;
    await broker.kill();
    await waitFor(() => !transport!.connected, 'the backend to notice the broker is gone');

    for (let i = 0; i < 20; i++) await b.services.codeSets.touch(LOCKER);
    await b.services.bridge.idle();
    await b.services.sweeper.tick();
    await b.services.bridge.idle();
    const set = (await b.store.codeSets.get(LOCKER))!;
    expect(set.version).toBe(before + 20);
    // Still owed: the sweeper publishes it once the broker is back.
    expect(set.publishedVersion).toBe(before);

    await broker.restart();
    const got: Array<{ fromVersion: number; toVersion: number }> = [];
    peer = connect(broker.url, { clientId: 'locker-peer-codes' });
    peer.on('message', (_topic, payload) => got.push((JSON.parse(payload.toString()) as { batch: { fromVersion: number; toVersion: number } }).batch));
    await peer.subscribeAsync(topicFor(LOCKER, 'codes/batch'), { qos: 1 });
    await waitFor(() => transport!.connected, 'the backend to reconnect');
    await b.services.sweeper.tick();
    await b.services.bridge.idle();
    await waitFor(() => got.length > 0, 'a code batch to reach the locker');
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual([expect.objectContaining({ fromVersion: before, toVersion: before + 20 })]);
  });

  it('a connected publish the broker never acknowledges rejects after publishTimeoutMs', async () => {
    let frozen = false;
    broker = await AedesHarness.start({
      // A broker that takes the message and never answers (overloaded, its disk stuck).
      authorizePublish: (_client, _packet, done) => {
        if (!frozen) done(null);
      },
    });
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-frozen', subscriptions: [topicFor(LOCKER, 'health')], publishTimeoutMs: 300, stopGraceMs: 200, logger: recordingLogger().logger, onMessage: () => Promise.resolve() });
    await transport.start();
    await transport.publish(topicFor(LOCKER, 'cmd'), Buffer.from('{}'), { qos: 1, retain: false });
    frozen = true;
    const err = await within(transport.publish(topicFor(LOCKER, 'cmd'), Buffer.from('{}'), { qos: 1, retain: false }).then(() => undefined, (e: unknown) => e), 3_000);
    expect(err).toBeInstanceOf(MqttUnconfirmedError);
    expect((err as MqttUnconfirmedError).reason).toBe('timeout');
  });

  it('with many commands due, a broker that never acknowledges costs a pass and POST commands one publish timeout, not one each', async () => {
    // Published one after another, each due command waited publishTimeoutMs (10 s) for its
    // PUBACK: 100 due held the sweeper's whole pass and the POST that ran it ~17 minutes.
    let frozen = false;
    broker = await AedesHarness.start({
      authorizePublish: (_client, _packet, done) => {
        if (!frozen) done(null);
      },
    });
    const rec = recordingLogger();
    const b = await backendWithLocker(rec.logger);
    f = b;
    // Stored and attempted once with no publisher attached (due again 5 s later).
    const txns: string[] = [];
    for (let i = 0; i < 20; i++) txns.push((await b.services.commands.send(LOCKER, { kind: 'resync' }, 'support', 300_000)).transactionId);
    const attempts = async (): Promise<number[]> => Promise.all(txns.map(async (t) => (await b.services.commands.get(t)).attempts));
    expect(await attempts()).toEqual(txns.map(() => 1));
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-frozen-many', subscriptions: bridgeSubscriptions, publishTimeoutMs: 300, stopGraceMs: 200, logger: rec.logger, onMessage: (t, p) => b.services.bridge.onMessage(t, p) });
    b.services.bridge.attach(transport);
    await transport.start();
    const app = await b.app();
    frozen = true;
    b.clock.advance(10_000);

    // One at a time this was 21 × 300 ms.
    const res = await within(app.inject({ method: 'POST', url: `/lockers/${LOCKER}/commands`, payload: { command: { kind: 'resync' }, ttlMs: 300_000 } }), 2_000);
    expect(res).not.toBe('still pending');
    if (res === 'still pending') return;
    expect(res.statusCode).toBe(202);
    // The pass stopped at the first timeout: those it did not reach are still due, unleased.
    const afterPost = await attempts();
    const reached = afterPost.filter((a) => a === 2).length;
    expect(reached).toBeGreaterThan(0);
    expect(reached).toBeLessThan(20);
    expect(rec.lines.some((l) => l['msg'] === 'command.publish_pass_stopped')).toBe(true);

    // The sweeper's pass likewise (one at a time: 20 × 300 ms), and it takes the next ones.
    const started = Date.now();
    expect(await within(b.services.commands.publishDue(), 2_000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await attempts()).filter((a) => a === 2).length).toBeGreaterThan(reached);

    // The broker is restarted (aedes handles a connection's packets in order: the one it
    // never answered wedged ours) and answers: everything due goes out in one pass (the 20
    // and the POSTed one), each attempt recorded once.
    frozen = false;
    await broker.restart();
    await waitFor(() => transport!.connected, 'the backend to reconnect');
    b.clock.advance(30_000);
    const before = await attempts();
    expect(await b.services.commands.publishDue()).toBe(21);
    expect(await attempts()).toEqual(before.map((a) => a + 1));
  });

  it('a broker acknowledging slowly costs a pass its budget plus one round of publishes, not one round trip per due command', async () => {
    broker = await AedesHarness.start({ authorizePublish: (_client, _packet, done) => void setTimeout(() => done(null), 200) });
    const rec = recordingLogger();
    const b = await backendWithLocker(rec.logger);
    f = b;
    for (let i = 0; i < 30; i++) await b.services.commands.send(LOCKER, { kind: 'resync' }, 'support', 300_000);
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-slow-acks', subscriptions: bridgeSubscriptions, stopGraceMs: 200, logger: rec.logger, onMessage: () => Promise.resolve() });
    await transport.start();
    const commands = new CommandService({ store: b.store, keys: b.services.keys, clock: b.clock, logger: rec.logger, passBudgetMs: 100 });
    commands.attach(transport);
    b.clock.advance(10_000);
    // One at a time this was 30 × 200 ms.
    const sent = await within(commands.publishDue(), 2_000);
    expect(sent).not.toBe('still pending');
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(30);
    let total = sent as number;
    for (let i = 0; i < 10 && total < 30; i++) total += await commands.publishDue();
    expect(total).toBe(30);
  });

  it('stop() returns as soon as the broker acknowledges what is in flight, not after the whole grace', async () => {
    // A broker that answers, a little slowly: a SIGTERM with publishes in flight is the
    // ordinary case, and must cost their round trip, not stopGraceMs (mqtt.js emits
    // outgoingEmpty only once end() has begun, so waiting for that event always ran out).
    broker = await AedesHarness.start({ authorizePublish: (_client, _packet, done) => void setTimeout(() => done(null), 150) });
    const rec = recordingLogger();
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-stop-acked', subscriptions: [topicFor(LOCKER, 'health')], stopGraceMs: 5_000, logger: rec.logger, onMessage: () => Promise.resolve() });
    await transport.start();
    const pending = transport.publish(topicFor(LOCKER, 'codes/batch'), Buffer.from('{}'), { qos: 1, retain: false }).then(() => 'acked', (e: unknown) => e);
    const t = transport;
    transport = undefined;
    const started = Date.now();
    expect(await within(t.stop(), 2_000)).not.toBe('still pending');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await pending).toBe('acked');
    expect(rec.lines.some((l) => l['msg'] === 'mqtt.stop_forced')).toBe(false);
  });

  it('stop() returns while the broker is down with publishes unacknowledged, and fails their callers', async () => {
    broker = await AedesHarness.start();
    const rec = recordingLogger();
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-stop', subscriptions: [topicFor(LOCKER, 'health')], logger: rec.logger, onMessage: () => Promise.resolve() });
    await transport.start();
    let frozen = false;
    broker.instance!.authorizePublish = (_client, _packet, done) => {
      if (!frozen) done(null);
    };
    frozen = true;
    const pending = transport.publish(topicFor(LOCKER, 'codes/batch'), Buffer.from('{}'), { qos: 1, retain: false }).then(() => 'acked', (e: unknown) => e);
    await broker.kill();
    await waitFor(() => !transport!.connected, 'the backend to notice the broker is gone');
    const t = transport;
    transport = undefined;
    expect(await within(t.stop(), 3_000)).not.toBe('still pending');
    expect(await within(pending, 1_000)).toBeInstanceOf(MqttUnconfirmedError);
    expect(rec.lines.some((l) => l['msg'] === 'mqtt.stop_forced')).toBe(true);
  });
});
