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
import { powerGate, type PowerGate } from './power-gate.js';

// One simulated locker: simulated hardware from hal, the real DeviceStore on a SQLite
// file in the data dir, and the real device runtime on top. The simulator adds nothing
// between the runtime and the hardware except observation (sim-events.ts) and the power
// gate (power-gate.ts), so what runs here is what runs on a board.
//
// The hardware is the physical locker and lives as long as the LockerSim; the store and
// the runtime are the device *process* and can die in a power cut (`powerCut()`: no
// graceful path, database handle dropped as SIGKILL would leave it) and boot again on the
// same database (`powerOn()`), which is how the crash-recovery paths are reached.

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
  /** The clock as the process sees it (dies with it in a power cut). */
  clock: Clock;
}

export type RuntimeFactory = (parts: RuntimeParts) => DeviceRuntime;

export interface LockerSimOptions {
  config: SimLockerConfig;
  dataDir: string;
  logger: Logger;
  /** Defaults to the system clock: a simulator a person drives runs in real time. */
  clock?: Clock;
  /** Builds the device runtime; called again at every boot after a power cut. */
  createRuntime: RuntimeFactory;
  /** Data dir layout; defaults to dataDirPaths(dataDir). A session shares the backend's files. */
  paths?: DataDirPaths;
}

/** One boot of the device process: its store connection, its runtime, its view of the hardware. */
interface Generation {
  store: DeviceStore;
  runtime: DeviceRuntime;
  gate: PowerGate;
}

export type LockerPower = 'created' | 'running' | 'off' | 'stopped';

export class LockerSim {
  private state: LockerPower = 'created';

  constructor(
    readonly config: SimLockerConfig,
    readonly paths: DataDirPaths,
    readonly hardware: LockerHardware,
    readonly control: SimulatedLockerControl,
    readonly events: EventFeed,
    private current: Generation,
    private readonly boot: () => Generation,
    private readonly closeHardware: () => Promise<void>,
    private readonly log: Logger,
    private readonly powerLost: () => void = () => undefined,
  ) {}

  get lockerId(): string {
    return this.config.lockerId;
  }

  /** The device store of the running (or last) boot. */
  get store(): DeviceStore {
    return this.current.store;
  }

  get runtime(): DeviceRuntime {
    return this.current.runtime;
  }

  /** The clock the running device process sees (for its sync agent). */
  get processClock(): Clock {
    return this.current.gate.clock;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  get power(): LockerPower {
    return this.state;
  }

  async start(): Promise<void> {
    if (this.state !== 'created') throw new Error(`locker simulator cannot start from state ${this.state}`);
    await this.runtime.start();
    this.state = 'running';
    this.log.info({ lockerId: this.lockerId, dataDir: this.paths.root }, 'simulator.started');
  }

  /**
   * Power cut: the device process dies now. No runtime stop (no open is finished, no
   * device.stopped record, no time checkpoint), every timer and input gone, the relays drop
   * out, and the database connection is closed without the clean-shutdown marker, so the
   * next boot treats it as after a crash. Committed transactions are on disk (synchronous
   * FULL) exactly as after SIGKILL; what was in flight is whatever the journal says.
   */
  powerCut(): void {
    if (this.state !== 'running') throw new Error(`no power to cut: the locker is ${this.state}`);
    this.state = 'off';
    this.current.gate.cut();
    this.powerLost();
    try {
      this.current.store.database.close();
    } catch (err) {
      this.log.error({ err }, 'simulator.power_cut_close_failed');
    }
    this.log.warn({ lockerId: this.lockerId }, 'simulator.power_cut');
  }

  /** Power back: a new device process boots on the same database and hardware. */
  async powerOn(): Promise<void> {
    if (this.state !== 'off') throw new Error(`cannot power on a locker that is ${this.state}`);
    this.current = this.boot();
    await this.runtime.start();
    this.state = 'running';
    this.log.info({ lockerId: this.lockerId }, 'simulator.power_restored');
  }

  /**
   * Stops the runtime, switches every relay off, closes the database. Idempotent, and it
   * keeps going when one step fails: a relay must never be left energised because the
   * runtime threw while stopping.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasRunning = this.state === 'running';
    const wasOff = this.state === 'off';
    this.state = 'stopped';
    const failures: unknown[] = [];
    if (wasRunning) await this.runtime.stop().catch((err: unknown) => failures.push(err));
    await this.hardware.relays.allOff().catch((err: unknown) => failures.push(err));
    await this.closeHardware().catch((err: unknown) => failures.push(err));
    if (!wasOff) {
      try {
        this.store.close();
      } catch (err) {
        failures.push(err);
      }
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
  const log = logger.child({ component: 'simulator', lockerId: config.lockerId });
  const paths = options.paths ?? dataDirPaths(options.dataDir);
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
  const observed = observeHardware(sim.hardware, events, sim.control);
  const closeHardware = async (): Promise<void> => {
    observed.detach();
    await sim.hardware.close();
  };

  const boot = (): Generation => {
    const gate = powerGate(observed.hardware, clock);
    // The store stamps records with trusted time, which the runtime owns: bound late, as in
    // device/main.ts.
    let now = (): number => Math.floor(clock.now());
    const store = openDeviceStore({ path: paths.database, lockerId: config.lockerId, logger, now: () => now() });
    try {
      // The layout comes from config at every start; status and parcels inside persist.
      store.syncCompartmentLayout(config.compartments);
      const runtime = options.createRuntime({ hardware: gate.hardware, store, ed25519, config, codePepper, logger, clock: gate.clock });
      if (runtime.trustedNow !== undefined) now = () => runtime.trustedNow?.() ?? Math.floor(clock.now());
      return { store, runtime, gate };
    } catch (err) {
      store.close();
      throw err;
    }
  };
  let first: Generation;
  try {
    first = boot();
  } catch (err) {
    await closeHardware();
    throw err;
  }
  return new LockerSim(config, paths, observed.hardware, sim.control, events, first, boot, closeHardware, log, observed.powerLost);
}
