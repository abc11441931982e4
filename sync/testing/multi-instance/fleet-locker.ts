import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { SeededRandom } from '@locker/hal/random.js';
import { createSimulatedHardware, type SimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { parseDeviceConfig } from '@locker/device/config.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import { fastAgentConfig } from '../test-locker.js';

// One locker of a fleet test: the real device runtime on simulated hardware (FakeClock for
// the door timers), its own SQLite file, and its real sync agent on the shared broker,
// provisioned from its registration like an installer would.

export interface Provisioning {
  codePepper: string;
  keyring: Array<{ op: string; kid: string; publicKey?: string | undefined }>;
}

export class FleetLocker {
  readonly clock = new FakeClock({ wallMs: Date.now() + 20_000 });
  readonly sim: SimulatedHardware;
  store!: DeviceStore;
  runtime!: LockerRuntime;
  agent!: SyncAgent;
  private readonly ed = createEd25519('node-crypto');

  constructor(
    readonly id: string,
    readonly compartments: Array<{ id: string; size: CompartmentSize }>,
  ) {
    this.sim = createSimulatedHardware({ compartments: compartments.map((c) => ({ id: c.id })), clock: this.clock, debounceMs: 50 });
  }

  async start(dir: string, provisioning: Provisioning, mqttUrl: string): Promise<void> {
    const trustedKeys = provisioning.keyring.flatMap((k) => (k.op === 'trust' && k.publicKey !== undefined ? [{ kid: k.kid, publicKey: k.publicKey }] : []));
    const config = parseDeviceConfig({
      lockerId: this.id,
      compartments: this.compartments,
      codePepperFile: '/unused',
      dbPath: join(dir, `${this.id}.db`),
      crypto: 'node-crypto',
      hardware: { kind: 'simulated', compartments: this.compartments.map((c) => ({ id: c.id })) },
      trustedKeys,
    });
    let now = (): number => Math.floor(this.clock.now());
    this.store = openDeviceStore({ path: config.dbPath, lockerId: this.id, logger: silentLogger(), now: () => now() });
    this.runtime = new LockerRuntime({
      hardware: this.sim.hardware,
      store: this.store,
      ed25519: this.ed,
      config: runtimeConfigFrom(config, Buffer.from(provisioning.codePepper, 'base64url')),
      logger: silentLogger(),
      clock: this.clock,
      random: new SeededRandom(this.id.length),
    });
    now = () => this.runtime.trustedNow();
    await this.runtime.start();
    this.agent = new SyncAgent({
      port: this.runtime.syncPort(),
      mqtt: { url: mqttUrl },
      ed: this.ed,
      keys: () => this.runtime.keys(),
      clock: new SystemClock(),
      logger: silentLogger(),
      config: { ...fastAgentConfig, protocolVersion: 5 },
    });
    this.agent.start();
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

  doorIsOpen(id: string): boolean {
    return this.sim.control.doorIsOpen(id);
  }

  pulses(id: string): number {
    return this.sim.control.pulses(id).length;
  }

  /** What the display shows now (for failing tests). */
  lastText(): string {
    return this.sim.control.indicator.lastMessage()?.text ?? '';
  }

  hasLiveCode(parcelId: string): boolean {
    return this.store.findEntriesByParcel(parcelId).some((e) => e.state === 'live' || e.state === 'awaiting-deposit');
  }

  async close(): Promise<void> {
    await this.agent.stop();
    await this.runtime.stop();
    this.store.close();
    await this.sim.hardware.close();
  }
}
