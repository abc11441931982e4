import type { Logger } from 'pino';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { CompartmentServiceOutcome } from '@locker/sync-agent/device-sync-port.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { createSimulatedHardware, type SimulatedLockerControl } from '@locker/hal/sim/simulated-hardware.js';
import type { Clock, LockerHardware } from '@locker/hal/types.js';
import { dataDirPaths, ensureCodePepper, ensureDataDir, type DataDirPaths } from './data-dir.js';
import { readCodePepper } from '@locker/device/config.js';
import type { SimLockerConfig } from './sim-config.js';
import { EventFeed, observeHardware } from './sim-events.js';

// One simulated locker: simulated hardware from hal, the real DeviceStore on a SQLite
// file in the data dir, and the real device runtime on top. The simulator adds nothing
// between the runtime and the hardware except observation (sim-events.ts), so what runs
// here is what runs on a board.

/** What the simulator needs of a device runtime (LockerRuntime has all of it). */
export interface DeviceRuntime {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Trusted epoch ms (clock floor applied): the store stamps audit records with it. */
  trustedNow?(): number;
  /** A technician returns a compartment to service or takes it out (console `service`). */
  setCompartmentService?(compartmentId: string, inService: boolean, by: string): CompartmentServiceOutcome;
}

export interface RuntimeParts {
  hardware: LockerHardware;
  store: DeviceStore;
  ed25519: Ed25519;
  config: SimLockerConfig;
  /** The per-locker code pepper (device config secret). */
  codePepper: Uint8Array;
  logger: Logger;
  clock: Clock;
}

export type RuntimeFactory = (parts: RuntimeParts) => DeviceRuntime;

export interface LockerSimOptions {
  config: SimLockerConfig;
  dataDir: string;
  logger: Logger;
  /** Defaults to the system clock: a simulator a person drives runs in real time. */
  clock?: Clock;
  /** Builds the device runtime; see device-runtime.ts. */
  createRuntime: RuntimeFactory;
}

export class LockerSim {
  private state: 'created' | 'running' | 'stopped' = 'created';

  constructor(
    readonly config: SimLockerConfig,
    readonly paths: DataDirPaths,
    readonly hardware: LockerHardware,
    readonly control: SimulatedLockerControl,
    readonly store: DeviceStore,
    readonly events: EventFeed,
    readonly runtime: DeviceRuntime,
    private readonly detach: () => void,
    private readonly log: Logger,
  ) {}

  get lockerId(): string {
    return this.config.lockerId;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`locker simulator cannot start from state ${this.state}`);
    await this.runtime.start();
    this.state = 'running';
    this.log.info({ lockerId: this.lockerId, dataDir: this.paths.root }, 'simulator.started');
  }

  /**
   * Stops the runtime, switches every relay off, closes the database. Idempotent, and it
   * keeps going when one step fails: a relay must never be left energised because the
   * runtime threw while stopping.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    const failures: unknown[] = [];
    if (wasRunning) await this.runtime.stop().catch((err: unknown) => failures.push(err));
    await this.hardware.relays.allOff().catch((err: unknown) => failures.push(err));
    await this.hardware.close().catch((err: unknown) => failures.push(err));
    this.detach();
    try {
      this.store.close();
    } catch (err) {
      failures.push(err);
    }
    for (const err of failures) this.log.error({ err }, 'simulator.stop_failed');
    this.log.info({ lockerId: this.lockerId }, 'simulator.stopped');
  }
}

/**
 * Builds the locker: data dir and secrets, hardware, store (created or resumed), runtime.
 * Nothing is started. On failure everything already opened is closed again.
 */
export async function openLockerSim(options: LockerSimOptions): Promise<LockerSim> {
  const { config, logger } = options;
  const log = logger.child({ component: 'simulator' });
  const paths = dataDirPaths(options.dataDir);
  ensureDataDir(paths);
  if (ensureCodePepper(paths.codePepper)) log.info({ path: paths.codePepper }, 'simulator.code_pepper_created');
  const codePepper = readCodePepper(paths.codePepper);
  const clock = options.clock ?? new SystemClock();
  const ed25519 = createEd25519(config.crypto);

  const sim = createSimulatedHardware({
    compartments: config.compartments.map((c) => ({ id: c.id })),
    clock,
    maxPulseMs: config.hardware.maxPulseMs,
    pulseMs: config.hardware.pulseMs,
    debounceMs: config.hardware.debounceMs,
    scannerMaxLength: config.hardware.scannerMaxLength,
    defaultBehaviour: { autoOpenOnPulse: config.person.autoOpenOnPulse, autoCloseAfterMs: config.person.autoCloseAfterMs },
    logger: logger.child({ component: 'hal-sim' }),
  });
  const events = new EventFeed();
  const observed = observeHardware(sim.hardware, events);

  // The store stamps records with trusted time, which the runtime owns: bound late, as in
  // device/main.ts.
  let now = (): number => Math.floor(clock.now());
  let store: DeviceStore;
  try {
    store = openDeviceStore({ path: paths.database, lockerId: config.lockerId, logger, now: () => now() });
  } catch (err) {
    observed.detach();
    await sim.hardware.close();
    throw err;
  }
  try {
    // The layout comes from config at every start; status and parcels inside persist.
    store.syncCompartmentLayout(config.compartments);
    const runtime = options.createRuntime({
      hardware: observed.hardware, store, ed25519, config, codePepper, logger, clock,
    });
    if (runtime.trustedNow !== undefined) now = () => runtime.trustedNow?.() ?? Math.floor(clock.now());
    return new LockerSim(config, paths, observed.hardware, sim.control, store, events, runtime, observed.detach, log);
  } catch (err) {
    observed.detach();
    await sim.hardware.close();
    store.close();
    throw err;
  }
}
