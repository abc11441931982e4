import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHardware, type CreatedHardware } from '@locker/hal/create-hardware.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import { cryptoRandom } from '@locker/hal/random.js';
import type { Clock, LockerHardware } from '@locker/hal/types.js';
import { readCodePepper, readDeviceConfigFile, type DeviceConfig } from './config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { describeError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { deviceTimeClock } from './runtime/device-time-clock.js';
import { LockerRuntime } from './runtime/locker-runtime.js';
import { runtimeConfigFrom } from './runtime/runtime-config.js';
import type { CorruptionReport } from './store/corruption-guard.js';
import { openDeviceStore, type DeviceStore } from './store/device-store.js';
import { FileStorageReserve, RESERVE_FILE_NAME } from './store/storage-reserve-file.js';
import { createCrashExit, exitOnCrash } from './systemd/exit-on-crash.js';
import { createSystemdService } from './systemd/systemd-service.js';

// Composition root of the device process: config (zod) → logger → hardware → store →
// runtime (→ sync agent, same process and SQLite connection, docs/decisions/0004).
// SIGTERM/SIGINT stop everything gracefully with every relay off, within STOP_BOUND_MS.
// Under systemd (Type=notify) it sends READY once the relays are off and the store is open,
// and feeds the watchdog while the event loop is healthy (device/systemd). Nothing runs at import.

/**
 * The longest a graceful stop may take before the process forces the relays off and exits 1.
 * The sync agent's goodbye is bounded at ~2 s (its publish and disconnect, 1 s each); the
 * unit's TimeoutStopSec (device/deploy/locker-device.service) is larger than this.
 */
export const STOP_BOUND_MS = 10_000;

export interface RunningDevice {
  config: DeviceConfig;
  runtime: LockerRuntime;
  store: DeviceStore;
  hardware: LockerHardware;
  logger: Logger;
  /** The simulated hardware's controls (`hardware.kind` simulated), for tests and benches. */
  control: Extract<CreatedHardware, { kind: 'simulated' }>['control'] | undefined;
  stop(): Promise<void>;
}

interface Stoppable {
  stop(): Promise<void>;
}

export interface StartDeviceOptions {
  /** The board's clock (tests: a wall clock set back or forward). Default: the system clock. */
  clock?: Clock;
  /** The first corruption a store call meets at runtime (corruption-guard.ts); the device process exits on it. */
  onDatabaseCorrupt?: (report: CorruptionReport) => void;
}

export async function startDevice(configPath: string, options: StartDeviceOptions = {}): Promise<RunningDevice> {
  const config = readDeviceConfigFile(configPath);
  const logger = createLogger({ level: config.logLevel, name: 'locker-device' });
  const pepper = readCodePepper(config.codePepperFile);
  const clock = options.clock ?? new SystemClock();
  const created = await createHardware(config.hardware, { clock, logger: logger.child({ component: 'hal' }) });
  const { hardware } = created;
  // The store stamps audit records with trusted time, which the runtime owns: bound late.
  let now = (): number => Math.floor(clock.now());
  let store: DeviceStore;
  try {
    store = openDeviceStore({
      path: config.dbPath, lockerId: config.lockerId, logger, now: () => now(), trustedKeys: config.trustedKeys,
      ...(options.onDatabaseCorrupt === undefined ? {} : { onCorrupt: options.onDatabaseCorrupt }),
    });
  } catch (err) {
    await hardware.close();
    throw err;
  }
  const ed25519 = createEd25519(config.crypto);
  // On the database's own file system, so deleting it gives SQLite room (docs/operations.md).
  const reserve = new FileStorageReserve(join(dirname(config.dbPath), RESERVE_FILE_NAME), config.storageReserve.bytes);
  const runtime = new LockerRuntime({ hardware, store, ed25519, config: runtimeConfigFrom(config, pepper), logger, clock, random: cryptoRandom(), reserve });
  now = () => runtime.trustedNow();
  await runtime.start();
  // The agent judges command expiry and key retirement with its clock's now(): device time.
  const agent = await startSyncAgent(config, runtime, ed25519, deviceTimeClock(clock, () => runtime.confirmedNow()), logger);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Stop the agent first so no remote open starts while the relays go off.
      if (agent !== undefined) await agent.stop().catch((err: unknown) => logger.error({ err }, 'sync.stop-failed'));
      await runtime.stop();
      await hardware.close();
      store.close();
      logger.info({}, 'device.stopped');
    })();
    return stopping;
  };
  return { config, runtime, store, hardware, logger, control: created.kind === 'simulated' ? created.control : undefined, stop };
}

async function startSyncAgent(config: DeviceConfig, runtime: LockerRuntime, ed: ReturnType<typeof createEd25519>, clock: Clock, logger: Logger): Promise<Stoppable | undefined> {
  if (config.sync === undefined) {
    logger.info({}, 'sync.disabled');
    return undefined;
  }
  const { SyncAgent } = await import('@locker/sync-agent/sync-agent.js');
  type AgentConfig = ConstructorParameters<typeof SyncAgent>[0]['config'];
  const { url, username, password } = config.sync.mqtt;
  const agent = new SyncAgent({
    port: runtime.syncPort(),
    mqtt: { url, ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) },
    ed,
    keys: () => runtime.keys(),
    clock,
    logger: logger.child({ component: 'sync-agent' }),
    // Validated by the agent's own schema in start().
    config: config.sync.agent as AgentConfig,
  });
  agent.start();
  return agent;
}

/**
 * The device process: start, tell systemd, stop on SIGTERM/SIGINT within STOP_BOUND_MS and
 * exit. Exported for the systemd child test (device/systemd/device-process-child.ts), which
 * drives the simulated hardware of the device it returns.
 */
export async function runDeviceProcess(configPath: string | undefined): Promise<RunningDevice> {
  if (configPath === undefined) {
    process.stderr.write('usage: device/main.ts <config.json> (or LOCKER_CONFIG)\n');
    process.exit(2);
  }
  // Listen before starting: a SIGTERM during start-up waits for the start, then stops cleanly,
  // instead of killing the process between "relays off" and "store open".
  let signalled: string | undefined;
  let onSignal = (signal: string): void => {
    signalled = signal;
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));

  // Corruption met while starting fails the start (the call throws DB_CORRUPT); one met in
  // a step that swallowed it is kept and made fatal as soon as the crash path exists.
  let corruptBeforeRunning: CorruptionReport | undefined;
  let onCorrupt = (report: CorruptionReport): void => {
    corruptBeforeRunning ??= report;
  };
  let device: RunningDevice;
  try {
    device = await startDevice(configPath, { onDatabaseCorrupt: (report) => onCorrupt(report) });
  } catch (err) {
    process.stderr.write(`device failed to start: ${describeError(err)}\n`);
    process.exit(1);
  }
  const { logger, hardware } = device;
  // A bug that throws this far: one fatal line, every relay off, exit 1 for systemd to restart us.
  const crash = createCrashExit({ logger, relaysOff: () => hardware.relays.allOff(), exit: (code) => process.exit(code) });
  exitOnCrash({ logger, relaysOff: () => hardware.relays.allOff(), exit: (code) => process.exit(code) }, crash);
  // A database damaged under the running locker (bit rot, a torn page): every boundary would
  // log it and carry on, turning each customer away while the locker looks up. Fatal
  // instead: the restart's integrity check refuses the file with DB_CORRUPT, and the
  // documented recovery applies (docs/operations.md). No graceful stop: its close would
  // leave the clean-shutdown marker that lets the next start skip that check.
  onCorrupt = (report) => crash('device.db-corrupt', { errorCode: 'DB_CORRUPT', sqliteCode: report.sqliteCode, where: report.where, err: report.error.cause });
  if (corruptBeforeRunning !== undefined) onCorrupt(corruptBeforeRunning);
  const systemd = createSystemdService({ env: process.env, pid: process.pid, clock: new SystemClock(), logger });
  // startDevice resolved: every relay is off (runtime.start) and the store is open.
  systemd.ready(`locker ${device.config.lockerId} running`);

  const shutdown = (signal: string): void => {
    logger.info({ signal, boundMs: STOP_BOUND_MS }, 'device.stopping');
    systemd.stopping(`stopping after ${signal}`);
    const bound = setTimeout(() => {
      // Something in the graceful path hangs: the relays go off anyway, and systemd restarts us.
      logger.fatal({ signal, boundMs: STOP_BOUND_MS }, 'device.stop-timeout');
      void hardware.relays.allOff().finally(() => process.exit(1));
    }, STOP_BOUND_MS);
    device
      .stop()
      .then(async () => {
        clearTimeout(bound);
        await systemd.close();
        process.exit(0);
      })
      .catch((err: unknown) => {
        clearTimeout(bound);
        logger.error({ err, signal }, 'device.stop-failed');
        void hardware.relays.allOff().finally(() => process.exit(1));
      });
  };
  onSignal = shutdown;
  if (signalled !== undefined) shutdown(signalled);
  return device;
}

// realpath: on the board node runs <prefix>/current/main.js, a symlink, and names the module
// by its real path (releases/<version>/main.js) while argv keeps the link (docs/hardware.md).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  if (process.argv[2] === '--help' || process.argv[2] === '-h') {
    process.stdout.write('usage: main.js <device.json> (or LOCKER_CONFIG); the locker-device systemd unit runs it\n');
  } else {
    void runDeviceProcess(process.argv[2] ?? process.env['LOCKER_CONFIG']);
  }
}
