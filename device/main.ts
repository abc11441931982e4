import { pathToFileURL } from 'node:url';
import { createHardware, type CreatedHardware } from '../hal/create-hardware.js';
import { SystemClock } from '../hal/clock/system-clock.js';
import { cryptoRandom } from '../hal/random.js';
import type { LockerHardware } from '../hal/types.js';
import { readCodePepper, readDeviceConfigFile, type DeviceConfig } from './config.js';
import { createEd25519 } from './crypto/create-ed25519.js';
import { isDeviceError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { LockerRuntime } from './runtime/locker-runtime.js';
import { runtimeConfigFrom } from './runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from './store/device-store.js';

// Composition root of the device process: config (zod) → logger → hardware → store →
// runtime (→ sync agent, same process and SQLite connection, docs/decisions/0004).
// SIGTERM/SIGINT stop everything gracefully with every relay off. Nothing runs at import.

export interface RunningDevice {
  config: DeviceConfig;
  runtime: LockerRuntime;
  store: DeviceStore;
  hardware: LockerHardware;
  /** The simulated hardware's controls (`hardware.kind` simulated), for tests and benches. */
  control: Extract<CreatedHardware, { kind: 'simulated' }>['control'] | undefined;
  stop(): Promise<void>;
}

interface Stoppable {
  stop(): Promise<void>;
}

export async function startDevice(configPath: string): Promise<RunningDevice> {
  const config = readDeviceConfigFile(configPath);
  const logger = createLogger({ level: config.logLevel, name: 'locker-device' });
  const pepper = readCodePepper(config.codePepperFile);
  const clock = new SystemClock();
  const created = await createHardware(config.hardware, { clock, logger: logger.child({ component: 'hal' }) });
  const { hardware } = created;
  // The store stamps audit records with trusted time, which the runtime owns: bound late.
  let now = (): number => Math.floor(clock.now());
  let store: DeviceStore;
  try {
    store = openDeviceStore({ path: config.dbPath, lockerId: config.lockerId, logger, now: () => now(), trustedKeys: config.trustedKeys });
  } catch (err) {
    await hardware.close();
    throw err;
  }
  const ed25519 = createEd25519(config.crypto);
  const runtime = new LockerRuntime({ hardware, store, ed25519, config: runtimeConfigFrom(config, pepper), logger, clock, random: cryptoRandom() });
  now = () => runtime.trustedNow();
  await runtime.start();
  const agent = await startSyncAgent(config, runtime, ed25519, clock, logger);

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
  return { config, runtime, store, hardware, control: created.kind === 'simulated' ? created.control : undefined, stop };
}

async function startSyncAgent(config: DeviceConfig, runtime: LockerRuntime, ed: ReturnType<typeof createEd25519>, clock: SystemClock, logger: Logger): Promise<Stoppable | undefined> {
  if (config.sync === undefined) {
    logger.info({}, 'sync.disabled');
    return undefined;
  }
  const { SyncAgent } = await import('../sync/agent/sync-agent.js');
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

async function run(): Promise<void> {
  const configPath = process.argv[2] ?? process.env['LOCKER_CONFIG'];
  if (configPath === undefined) {
    process.stderr.write('usage: device/main.ts <config.json> (or LOCKER_CONFIG)\n');
    process.exit(2);
  }
  let device: RunningDevice;
  try {
    device = await startDevice(configPath);
  } catch (err) {
    const code = isDeviceError(err) ? err.code : 'INTERNAL';
    process.stderr.write(`device failed to start: ${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const shutdown = (signal: string): void => {
    device
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        process.stderr.write(`device stop failed after ${signal}: ${String(err)}\n`);
        process.exit(1);
      });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void run();
}
