import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { SeededRandom } from '@locker/hal/random.js';
import type { Clock } from '@locker/hal/types.js';
import type { PulseRecord } from '@locker/hal/pulsed-relay-bank.js';
import { createSimulatedHardware, type SimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import { parseDeviceConfig } from '@locker/device/config.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import type { SyncAgentConfigInput } from '@locker/sync-agent/sync-config.js';
import { fastAgentConfig } from '../test-locker.js';

// One locker of a fleet test: the real device runtime on simulated hardware (FakeClock for
// the door timers, or the system clock for the simulator's fleet mode), its own SQLite
// file, and its real sync agent on the shared broker, provisioned from its registration
// like an installer would.

export interface Provisioning {
  codePepper: string;
  keyring: Array<{ op: string; kid: string; publicKey?: string | undefined }>;
}

export interface FleetLockerOptions {
  /**
   * Run on the system clock (the fleet simulator: doors, timers and latencies in real time)
   * instead of a FakeClock the test advances. Default false.
   */
  realTime?: boolean;
  /** Agent config over the fast test defaults (a large fleet polls less often and backs off with more jitter). */
  agent?: Partial<SyncAgentConfigInput>;
}

export class FleetLocker {
  readonly clock: Clock;
  readonly sim: SimulatedHardware;
  private readonly fake: FakeClock | undefined;
  store!: DeviceStore;
  runtime!: LockerRuntime;
  agent!: SyncAgent;
  private readonly ed = createEd25519('node-crypto');

  constructor(
    readonly id: string,
    readonly compartments: Array<{ id: string; size: CompartmentSize }>,
    private readonly options: FleetLockerOptions = {},
  ) {
    this.fake = options.realTime === true ? undefined : new FakeClock({ wallMs: Date.now() + 20_000 });
    this.clock = this.fake ?? new SystemClock();
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
      config: { ...fastAgentConfig, protocolVersion: 5, ...this.options.agent },
    });
    this.agent.start();
  }

  async scan(text: string): Promise<void> {
    this.sim.control.scanner.scan(text);
    await this.advance(0);
  }

  async type(keys: string): Promise<void> {
    this.sim.control.keypad.press(keys);
    await this.advance(0);
  }

  /** Advances the fake clock, or waits in real time. */
  async advance(ms: number): Promise<void> {
    if (this.fake !== undefined) await this.fake.advanceAsync(ms);
    else await new Promise((r) => setTimeout(r, ms));
  }

  async closeDoor(id: string): Promise<void> {
    this.sim.control.closeDoor(id);
    // Long enough for the debounced sensor and the runtime to see it closed.
    await this.advance(this.fake === undefined ? 150 : 1000);
  }

  doorIsOpen(id: string): boolean {
    return this.sim.control.doorIsOpen(id);
  }

  pulses(id: string): number {
    return this.sim.control.pulses(id).length;
  }

  /** The latest relay pulse of a compartment (its start time is on this locker's clock). */
  lastPulse(id: string): PulseRecord | undefined {
    return this.sim.control.pulses(id).at(-1);
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
