import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { SeededRandom } from '@locker/hal/random.js';
import { createSimulatedHardware, type SimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { bridgeSubscriptions } from '@locker/backend/locker-sync/locker-bridge.js';
import { MqttTransport } from '@locker/backend/locker-sync/mqtt-transport.js';
import { systemClock } from '@locker/backend/shared/clock.js';
import { lockerInput, makeBackend, type BackendFixture } from '@locker/backend/testing/backend-fixture.js';
import { waitFor } from '@locker/backend/testing/wait-for.js';
import type { App } from '@locker/backend/http/app.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import { AedesHarness } from './aedes-harness.js';
import { fastAgentConfig } from './test-locker.js';
import { parseDeviceConfig } from '@locker/device/config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';

// The whole chain for end-to-end scenarios: the real device runtime on simulated hardware
// (FakeClock for door timers), its real SyncAgent over an in-process aedes broker, and the
// real backend (HTTP API through inject, SQLite, signing keys, outbox with a recording
// channel for the customer). The locker is provisioned the way an installer does it: the
// registration's pepper and keyring go into the device config.

export const LOCKER = 'locker-full-1';
const COMPARTMENTS: Array<{ id: string; size: CompartmentSize }> = [
  { id: 'M1', size: 'M' },
  { id: 'M2', size: 'M' },
  { id: 'M3', size: 'M' },
  { id: 'L1', size: 'L' },
];

export class FullStack {
  broker!: AedesHarness;
  backend!: BackendFixture;
  app!: App;
  transport!: MqttTransport;
  store!: DeviceStore;
  runtime!: LockerRuntime;
  agent: SyncAgent | undefined;
  sim!: SimulatedHardware;
  // Ahead of real time by less than the verifier's 60 s nbf allowance in either direction.
  readonly clock = new FakeClock({ wallMs: Date.now() + 20_000 });
  private readonly ed = createEd25519('node-crypto');

  static async start(): Promise<FullStack> {
    const s = new FullStack();
    await s.init();
    return s;
  }

  private async init(): Promise<void> {
    this.broker = await AedesHarness.start();
    this.backend = await makeBackend({ clock: systemClock });
    this.app = await this.backend.app();
    const reg = await this.app.inject({ method: 'POST', url: '/lockers', payload: lockerInput(LOCKER, 50.1, 8.6, { M: 3, L: 1 }) });
    if (reg.statusCode !== 201) throw new Error(`locker registration: ${reg.body}`);
    const provisioning = reg.json<{ provisioning: { codePepper: string; keyring: Array<{ op: string; kid: string; publicKey?: string }> } }>().provisioning;
    this.transport = new MqttTransport({
      url: this.broker.url, clientId: 'backend-full', protocolVersion: this.broker.protocolVersion, subscriptions: bridgeSubscriptions,
      logger: silentLogger(), onMessage: (t, p) => this.backend.services.bridge.onMessage(t, p),
    });
    this.backend.services.bridge.attach(this.transport);
    await this.transport.start();

    this.sim = createSimulatedHardware({ compartments: COMPARTMENTS.map((c) => ({ id: c.id })), clock: this.clock, debounceMs: 50 });
    const trustedKeys = provisioning.keyring.flatMap((k) => (k.op === 'trust' && k.publicKey !== undefined ? [{ kid: k.kid, publicKey: k.publicKey }] : []));
    const config = parseDeviceConfig({
      lockerId: LOCKER, compartments: COMPARTMENTS, codePepperFile: '/unused', dbPath: join(this.backend.dir, 'device.db'),
      crypto: 'node-crypto', hardware: { kind: 'simulated', compartments: COMPARTMENTS.map((c) => ({ id: c.id })) }, trustedKeys,
    });
    let now = (): number => Math.floor(this.clock.now());
    this.store = openDeviceStore({ path: config.dbPath, lockerId: LOCKER, logger: silentLogger(), now: () => now() });
    this.runtime = new LockerRuntime({
      hardware: this.sim.hardware, store: this.store, ed25519: this.ed, config: runtimeConfigFrom(config, Buffer.from(provisioning.codePepper, 'base64url')),
      logger: silentLogger(), clock: this.clock, random: new SeededRandom(1),
    });
    now = () => this.runtime.trustedNow();
    await this.runtime.start();
    this.connect();
    await waitFor(async () => (await this.backend.services.lockers.get(LOCKER)).online, 'locker online');
  }

  /** Starts the locker's sync agent (the locker comes online). */
  connect(): void {
    this.agent = new SyncAgent({
      port: this.runtime.syncPort(), mqtt: { url: this.broker.url }, ed: this.ed, keys: () => this.runtime.keys(),
      clock: new SystemClock(), logger: silentLogger(), config: { ...fastAgentConfig, protocolVersion: this.broker.protocolVersion },
    });
    this.agent.start();
  }

  /** Stops the sync agent: the locker is offline, the runtime runs on. */
  async disconnect(): Promise<void> {
    await this.agent?.stop();
    this.agent = undefined;
  }

  async close(): Promise<void> {
    await this.disconnect();
    await this.runtime.stop();
    this.store.close();
    await this.sim.hardware.close();
    await this.transport.stop();
    await this.backend.services.bridge.idle();
    await this.broker.close();
    await this.backend.close();
  }

  async post<T>(url: string, payload?: object, key?: string): Promise<T> {
    const res = await this.app.inject({ method: 'POST', url, ...(payload === undefined ? {} : { payload }), ...(key === undefined ? {} : { headers: { 'idempotency-key': key } }) });
    if (res.statusCode >= 300) throw new Error(`${url}: ${String(res.statusCode)} ${res.body}`);
    return res.json<T>();
  }

  /** Checkout to shipment for one M parcel; waits until the locker holds its code. */
  async shipment(tag: string): Promise<{ orderId: string; shipmentId: string; compartmentId: string }> {
    const hold = await this.post<{ id: string }>('/reservations', { orderRef: `cart-${tag}`, lockerId: LOCKER, size: 'M' }, `res-${tag}`);
    const order = await this.post<{ id: string }>('/orders', {
      orderRef: `cart-${tag}`, customer: { name: 'Ada', email: 'ada@example.com' }, currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 2000, size: 'M' }], reservationIds: [hold.id],
    }, `ord-${tag}`);
    await this.post(`/orders/${order.id}/payment-confirmation`);
    await this.post(`/orders/${order.id}/processing`);
    const shipment = await this.post<{ id: string; compartmentId: string }>(`/orders/${order.id}/shipments`, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: `TRK-${tag}`, delivery: { reservationId: hold.id } });
    await waitFor(() => this.store.findEntriesByParcel(shipment.id).length > 0, 'the locker to hold the parcel code');
    return { orderId: order.id, shipmentId: shipment.id, compartmentId: shipment.compartmentId };
  }

  async courierCredential(): Promise<string> {
    return (await this.post<{ token: string }>(`/lockers/${LOCKER}/courier-credentials`, { courierId: 'courier-1' })).token;
  }

  /** The codes the customer was sent for a shipment (outbox drained first). */
  async codesSent(shipmentId: string): Promise<string[]> {
    await this.backend.services.outbox.drain();
    return this.backend.inbox.sent.filter((n) => n.kind === 'parcel.ready_for_pickup' && n.payload['shipmentId'] === shipmentId).map((n) => String(n.payload['code']));
  }

  async scan(text: string): Promise<void> {
    this.sim.control.scanner.scan(text);
    await this.clock.advanceAsync(0);
  }

  async type(keys: string): Promise<void> {
    this.sim.control.keypad.press(keys);
    await this.clock.advanceAsync(0);
  }

  async advance(ms: number): Promise<void> {
    await this.clock.advanceAsync(ms);
  }

  async closeDoor(id: string): Promise<void> {
    this.sim.control.closeDoor(id);
    await this.clock.advanceAsync(1000);
  }

  pulses(id: string): number {
    return this.sim.control.pulses(id).length;
  }

  lastText(): string {
    return this.sim.control.indicator.lastMessage()?.text ?? '';
  }
}
