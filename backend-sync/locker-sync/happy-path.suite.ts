import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrokerHarness } from '@locker/sync-testing/broker-harness.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { makeTestKeys } from '@locker/contract/test-keys.js';
import { startTestLocker, type TestLocker } from '@locker/sync-testing/test-locker.js';
import type { App } from '../http/app.js';
import { systemClock } from '../shared/clock.js';
import { lockerWouldAccept } from '@locker/sync-testing/locker-token-check.js';
import { Keyring, codeDigest, topicFor } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { waitFor } from '../testing/wait-for.js';
import type { SqliteExecutor } from '../store/sqlite/sqlite-executor.js';
import { bridgeSubscriptions } from './locker-bridge.js';
import { MqttTransport } from './mqtt-transport.js';

// Locker to customer through the embedded MQTT broker: the real backend (HTTP API, SQLite,
// signing keys) and, as the locker, the real sync agent on a real DeviceStore (its SQLite
// file, batch application, durable audit outbox). The device runtime's keypad is played by
// the test: it looks the customer's code up by digest exactly as the runtime does, and
// writes the deposit/pickup audit records the runtime writes. Run against aedes
// (happy-path.test.ts) and a real Mosquitto (happy-path.mosquitto.test.ts).

const LOCKER = 'locker-test-1';

export function describeHappyPath(name: string, startBroker: () => Promise<BrokerHarness>): void {
describe(`locker to customer over MQTT (${name})`, () => {
  let broker: BrokerHarness;
  let f: BackendFixture;
  let app: App;
  let transport: MqttTransport;
  let locker: TestLocker;
  let pepper: Buffer;
  const backendLogs = captureLogs('info');

  beforeEach(async () => {
    broker = await startBroker();
    f = await makeBackend({ clock: systemClock, logger: backendLogs.logger });
    app = await f.app();
    const reg = await app.inject({ method: 'POST', url: '/lockers', payload: lockerInput(LOCKER, 50.1, 8.6, { S: 2, M: 2 }) });
    expect(reg.statusCode).toBe(201);
    const provisioning = reg.json<{ provisioning: { codePepper: string; keyring: Array<{ op: string; kid: string; publicKey?: string }> } }>().provisioning;
    pepper = Buffer.from(provisioning.codePepper, 'base64url');
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-test', protocolVersion: broker.protocolVersion, subscriptions: bridgeSubscriptions, logger: backendLogs.logger, onMessage: (t, p) => f.services.bridge.onMessage(t, p) });
    f.services.bridge.attach(transport);
    await transport.start();
    // The provisioning bundle's keyring, installed on the locker.
    const rows = provisioning.keyring.flatMap((k) => (k.op === 'trust' && k.publicKey !== undefined ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false }] : []));
    locker = startTestLocker({ broker, keys: { ...makeTestKeys(), rows }, dir: f.dir, lockerId: LOCKER });
    locker.store.syncCompartmentLayout([{ id: 'S1', size: 'S' }, { id: 'S2', size: 'S' }, { id: 'M1', size: 'M' }, { id: 'M2', size: 'M' }]);
    await waitFor(async () => (await f.services.lockers.get(LOCKER)).online, 'locker online');
  });

  afterEach(async () => {
    await locker.close();
    await transport.stop();
    await f.services.bridge.idle();
    await f.close();
    await broker.close();
  });

  const post = async <T>(url: string, payload?: object, key?: string): Promise<T> => {
    const res = await app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload }), ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }) });
    if (res.statusCode >= 300) throw new Error(`${url}: ${String(res.statusCode)} ${res.body}`);
    return res.json<T>();
  };

  async function orderWithShipment(tag: string): Promise<{ orderId: string; shipmentId: string; tokenId: string }> {
    const hold = await post<{ id: string }>('/reservations', { orderRef: `cart-${tag}`, lockerId: LOCKER, size: 'M' }, `res-${tag}-key`);
    const order = await post<{ id: string }>(
      '/orders',
      { orderRef: `cart-${tag}`, customer: { name: 'Ada', email: 'ada@example.com' }, currency: 'EUR', lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 2000, size: 'M' }], reservationIds: [hold.id] },
      `ord-${tag}-key`,
    );
    await post(`/orders/${order.id}/payment-confirmation`);
    await post(`/orders/${order.id}/processing`);
    const shipment = await post<{ id: string }>(`/orders/${order.id}/shipments`, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: `TRK-${tag}`, delivery: { reservationId: hold.id } });
    const tokenId = (await f.store.shipments.get(shipment.id))!.pickupTokenId!;
    return { orderId: order.id, shipmentId: shipment.id, tokenId };
  }

  const inSync = async (): Promise<boolean> => {
    const ours = (await f.store.codeSets.get(LOCKER))!;
    const theirs = locker.store.codeSetState();
    return theirs.version === ours.version && theirs.digest === ours.digest && ours.ackedVersion === ours.version;
  };

  it('delivers a parcel from checkout to pickup: batch applied, deposit notified with a working code, pickup collected', async () => {
    const { orderId, shipmentId, tokenId } = await orderWithShipment('happy');
    await waitFor(inSync, 'locker holds and acknowledged the backend code set');
    expect(locker.store.findEntryByTokenId(tokenId)?.state).toBe('awaiting-deposit');

    // Courier deposits into M1 (the runtime's courier flow writes exactly this).
    const compartmentId = (await f.store.shipments.get(shipmentId))!.compartmentId!;
    locker.store.transaction(() => {
      locker.store.markDeposited(tokenId, compartmentId, Date.now());
      locker.store.setCompartmentStatus(compartmentId, 'occupied', { parcelId: shipmentId });
      locker.store.appendAudit('courier.deposited', 'normal', { tokenId, parcelId: shipmentId, compartmentId, assignedId: compartmentId });
    });
    await waitFor(async () => (await f.services.shipments.get(shipmentId)).state === 'delivered', 'shipment delivered');
    await f.services.outbox.drain();
    const ready = f.inbox.sent.filter((n) => n.kind === 'parcel.ready_for_pickup');
    expect(ready).toHaveLength(1);
    const code = String(ready[0]?.payload['code']);
    expect(code).toMatch(/^\d{8}$/);
    // The code is gone from the backend database once handed over.
    const db = (f.store.x as SqliteExecutor).db;
    expect(JSON.stringify(db.prepare('SELECT * FROM notifications').all())).not.toContain(code);
    expect(JSON.stringify(db.prepare('SELECT * FROM shipments').all())).not.toContain(code);

    // The customer types the code: the locker finds the entry by digest and its token verifies offline.
    const entry = locker.store.findEntryByCodeDigest(codeDigest(pepper, LOCKER, code));
    expect(entry?.tokenId).toBe(tokenId);
    const keyring = Keyring.fromRows(f.ed, locker.store.keyringRows());
    const verified = lockerWouldAccept({ token: entry!.token, lockerId: LOCKER, now: Date.now(), purposes: ['pickup'] }, keyring, f.ed);
    expect(verified.ok).toBe(true);

    locker.store.transaction(() => {
      locker.store.markTokenUsed(tokenId, 'pickup', Date.now());
      locker.store.markCollected(tokenId, Date.now());
      locker.store.appendAudit('pickup.collected', 'normal', { tokenId, compartmentId, via: 'code', parcelId: shipmentId, door: 'opened' });
    });
    await waitFor(async () => (await f.services.orders.get(orderId)).state === 'collected', 'order collected');
    await waitFor(() => locker.store.auditAckedWatermark() === locker.store.auditHighWatermark(), 'audit acknowledged');
    expect(await f.store.audit.chainBrokenAt(LOCKER)).toBeUndefined();
    expect(backendLogs.text()).not.toContain(code);
    expect(backendLogs.text()).not.toContain(entry!.token);
  });

  it('revokes the code on the locker when the shipment is cancelled before it ships', async () => {
    const { orderId, shipmentId, tokenId } = await orderWithShipment('cancel');
    await waitFor(inSync, 'locker holds the new code');
    await post(`/orders/${orderId}/cancellation`, { reason: 'customer request', shipmentIds: [shipmentId] });
    await waitFor(() => locker.store.isTokenRevoked(tokenId), 'token revoked on the locker');
    await waitFor(inSync, 'digests equal after revocation');
    expect(locker.store.findEntryByTokenId(tokenId)?.state).toBe('revoked');
  });

  it('sends a signed remote open that the locker executes once, and stores its reply', async () => {
    // Keeps the command as published, to publish it again the way a retry would.
    const published: Buffer[] = [];
    f.services.bridge.attach({
      publish: (topic, payload, opts) => {
        if (topic === topicFor(LOCKER, 'cmd')) published.push(payload);
        return transport.publish(topic, payload, opts);
      },
    });
    // A command is bound to the database the locker announced (its audit epoch), which comes a
    // little after it is online: on a loaded machine, later than the setup's wait.
    await waitFor(async () => (await f.store.audit.currentEpoch(LOCKER)) !== undefined, 'locker announced its database epoch');
    const sent = await post<{ transactionId: string; state: string }>(`/lockers/${LOCKER}/commands`, { command: { kind: 'remote-open', compartmentId: 'S1', reason: 'customer on the phone' } });
    expect(['pending', 'replied']).toContain(sent.state); // a fast broker may deliver the reply first
    await waitFor(async () => (await f.services.commands.get(sent.transactionId)).state === 'replied', 'command replied');
    // A replied command is not due any more; a retry that crossed the reply (the same
    // bytes again) is answered from the locker's stored reply, the door stays shut.
    expect(await f.services.commands.publishDue()).toBe(0);
    expect(published).toHaveLength(1);
    await transport.publish(topicFor(LOCKER, 'cmd'), published[0]!, { qos: 1, retain: false });
    await new Promise((r) => setTimeout(r, 200));
    expect(locker.port.remote.calls).toHaveLength(1);
    const res = await app.inject({ method: 'GET', url: `/lockers/${LOCKER}/commands/${sent.transactionId}` });
    expect(res.json<{ reply: { status: string; result: { outcome: string } } }>().reply).toMatchObject({ status: 'ok', result: { outcome: 'opened' } });
  });

  it('re-sends what a locker missed while the backend was disconnected, when it sees its presence again', async () => {
    await transport.stop();
    const { tokenId } = await orderWithShipment('missed');
    expect(locker.store.findEntryByTokenId(tokenId)).toBeUndefined();
    transport = new MqttTransport({ url: broker.url, clientId: 'backend-test', protocolVersion: broker.protocolVersion, subscriptions: bridgeSubscriptions, logger: backendLogs.logger, onMessage: (t, p) => f.services.bridge.onMessage(t, p) });
    f.services.bridge.attach(transport);
    await transport.start();
    await waitFor(inSync, 'locker caught up from its retained presence');
    expect(locker.store.findEntryByTokenId(tokenId)?.state).toBe('awaiting-deposit');
  });
});
}
