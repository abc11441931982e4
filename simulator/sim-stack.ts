import type { Logger } from 'pino';
import { readCodePepper, type DeviceConfig } from '../device/config.js';
import { createEd25519 } from '../device/crypto/create-ed25519.js';
import { LockerRuntime } from '../device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '../device/runtime/runtime-config.js';
import { cryptoRandom } from '../hal/random.js';
import { loadOrCreateSigningKey } from './backend-signing-key.js';
import type { DataDirPaths } from './data-dir.js';
import { DemoIssuer } from './demo-issuer.js';
import type { DemoParcelSource } from './demo-scenario.js';
import { localParcelSource } from './local-parcel-source.js';
import type { LockerSim, RuntimeFactory } from './locker-sim.js';
import { simDeviceConfig, type SimLockerConfig } from './sim-config.js';
import type { LockoutSource } from './status-report.js';

// Everything around the simulated locker: the real device runtime (device/runtime), built
// from a device config validated by the device's own schema, and the demo's backend side.
// main.ts and the tests compose the same stack, so the tests run what `npm start` runs.

export interface SimStackOptions {
  config: SimLockerConfig;
  paths: DataDirPaths;
  logger: Logger;
  /** Human-readable progress lines. */
  say: (line: string) => void;
}

export interface SimStack {
  readonly deviceConfig: DeviceConfig;
  readonly createRuntime: RuntimeFactory;
  /** The runtime, once the locker built it. */
  runtime(): LockerRuntime;
  readonly lockout: LockoutSource;
  /** Called once the locker runs. */
  afterStart(sim: LockerSim): Promise<void>;
  /** The demo's backend side: issues tokens and gets the batch onto the locker. */
  demoSource(sim: LockerSim): Promise<DemoParcelSource>;
  stop(): Promise<void>;
}

export function createSimStack(options: SimStackOptions): Promise<SimStack> {
  const { config, paths, say } = options;
  const deviceConfig = simDeviceConfig(config, paths);
  let runtime: LockerRuntime | undefined;
  const requireRuntime = (): LockerRuntime => {
    if (runtime === undefined) throw new Error('the device runtime has not been built yet');
    return runtime;
  };

  const stack: SimStack = {
    deviceConfig,
    createRuntime: (parts) => {
      runtime = new LockerRuntime({
        hardware: parts.hardware,
        store: parts.store,
        ed25519: parts.ed25519,
        config: runtimeConfigFrom(deviceConfig, parts.codePepper),
        logger: parts.logger,
        clock: parts.clock,
        random: cryptoRandom(),
      });
      return runtime;
    },
    runtime: requireRuntime,
    lockout: { lockout: () => runtime?.health().lockout },
    afterStart: () => Promise.resolve(),
    demoSource: (sim) => {
      // The backend signs with node:crypto whatever the device uses (FACTS.md: ~140x faster).
      const ed = createEd25519('node-crypto');
      const key = loadOrCreateSigningKey(paths.backendKeys, ed);
      say(key.created ? `backend signing key ${key.kid} generated in ${paths.backendKeys}` : `backend signing key ${key.kid} loaded from ${paths.backendKeys}`);
      const issuer = new DemoIssuer({
        ed, key, lockerId: sim.lockerId, pepper: readCodePepper(paths.codePepper), now: () => Date.now(), codeLength: deviceConfig.codeLength,
      });
      return Promise.resolve(localParcelSource(issuer, (batch) => requireRuntime().syncPort().applyCodeBatch(batch)));
    },
    stop: () => Promise.resolve(),
  };
  return Promise.resolve(stack);
}
