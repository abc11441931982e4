import type { Logger } from 'pino';
import { readCodePepper, type DeviceConfig } from '@locker/device/config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import type { DeviceStore } from '@locker/device/store/device-store.js';
import { cryptoRandom } from '@locker/hal/random.js';
import type { Clock } from '@locker/hal/types.js';
import type { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import { backendParcelSource } from './backend-parcel-source.js';
import { loadOrCreateSigningKey } from './backend-signing-key.js';
import { ensureDataDir, type DataDirPaths } from './data-dir.js';
import { DemoIssuer } from './demo-issuer.js';
import type { DemoParcelSource } from './demo-scenario.js';
import { localParcelSource } from './local-parcel-source.js';
import type { LockerSim, RuntimeFactory } from './locker-sim.js';
import { startEmbeddedBackend, type EmbeddedBackend } from './embedded-backend.js';
import { simDeviceConfig, type SimLockerConfig } from './sim-config.js';
import type { RuntimeView } from './status-report.js';
import { EmbeddedBroker, startSyncAgent } from './sync-link.js';

// Everything around the simulated locker, composed once for main.ts and the tests: the
// real device runtime (built from a device config validated by the device's own schema)
// and, unless offline, an embedded MQTT broker, the real backend (backend-sync) and the
// real SyncAgent. The backend signs with a key generated in the data dir at first run.
// Offline, the demo signs with the same key in-process and hands the batch over directly.

export interface SimStackOptions {
  config: SimLockerConfig;
  paths: DataDirPaths;
  logger: Logger;
  /** false: an offline locker (no broker, backend or agent); the demo hands its batch over in-process. */
  sync: boolean;
  /** Human-readable progress lines. */
  say: (line: string) => void;
}

export interface SimStack {
  readonly deviceConfig: DeviceConfig;
  readonly createRuntime: RuntimeFactory;
  readonly view: RuntimeView;
  /** The embedded backend's HTTP API, when online. */
  readonly backendUrl: string | undefined;
  /** Bearer key for the backend's HTTP API (undefined offline). */
  readonly backendApiKey: string | undefined;
  /** Connects the locker to the broker once it runs (no-op when offline). */
  afterStart(sim: LockerSim): Promise<void>;
  /** The demo's backend side: issues tokens and gets the batch onto the locker. */
  demoSource(sim: LockerSim): Promise<DemoParcelSource>;
  /** Stops the network side. Call BEFORE stopping the locker, as device/main.ts does. */
  stop(): Promise<void>;
}

interface Built {
  runtime: LockerRuntime;
  store: DeviceStore;
  ed: Ed25519;
  clock: Clock;
  logger: Logger;
}

export async function createSimStack(options: SimStackOptions): Promise<SimStack> {
  const { config, paths, say, logger } = options;
  // Validated before anything starts (a bad config is a usage error), again below with keys.
  let deviceConfig = simDeviceConfig(config, paths);
  ensureDataDir(paths);
  // The backend signs with node:crypto whatever the device uses (FACTS.md: ~140x faster).
  const backendEd = createEd25519('node-crypto');
  const key = loadOrCreateSigningKey(paths.backendKeys, backendEd);
  say(key.created ? `backend signing key ${key.kid} generated in ${paths.backendKeys}` : `backend signing key ${key.kid} loaded from ${paths.backendKeys}`);
  const broker = options.sync ? await EmbeddedBroker.start() : undefined;
  let backend: EmbeddedBackend | undefined;
  if (broker !== undefined) {
    say(`embedded MQTT broker (aedes) on ${broker.url}`);
    try {
      // Before the locker opens: a new locker's code pepper comes from its registration.
      backend = await startEmbeddedBackend({ config, paths, brokerUrl: broker.url, key, logger, say });
    } catch (err) {
      await broker.close();
      throw err;
    }
    say(`backend (backend-sync) running: HTTP API ${backend.url}, database ${paths.backendDatabase}`);
    // The provisioning bundle's keyring goes where an installer puts a board's: into the
    // device config's trustedKeys. Runtime (QR tokens) and sync agent (seals) both use it.
    deviceConfig = simDeviceConfig(config, paths, backend.provisionedKeys());
  }

  let built: Built | undefined;
  let agent: SyncAgent | undefined;
  const requireBuilt = (): Built => {
    if (built === undefined) throw new Error('the device runtime has not been built yet');
    return built;
  };
  const issuerFor = (sim: LockerSim): DemoIssuer =>
    new DemoIssuer({ ed: backendEd, key, lockerId: sim.lockerId, pepper: readCodePepper(paths.codePepper), now: () => Date.now(), codeLength: deviceConfig.codeLength });

  return {
    deviceConfig,
    createRuntime: (parts) => {
      const runtime = new LockerRuntime({
        hardware: parts.hardware,
        store: parts.store,
        ed25519: parts.ed25519,
        config: runtimeConfigFrom(deviceConfig, parts.codePepper),
        logger: parts.logger,
        clock: parts.clock,
        random: cryptoRandom(),
      });
      built = { runtime, store: parts.store, ed: parts.ed25519, clock: parts.clock, logger: parts.logger };
      return runtime;
    },
    backendUrl: backend?.url,
    backendApiKey: backend?.apiKey,
    view: {
      lockout: () => built?.runtime.health().lockout,
      sync: () => {
        const status = agent?.status();
        return status === undefined
          ? undefined
          : { connected: status.connected, auditRecordsSent: status.auditRecordsSent, rejections: status.rejections, restarts: status.restarts };
      },
      backend: async () => {
        if (backend === undefined) return undefined;
        const codeSet = await backend.services.store.codeSets.get(config.lockerId);
        return {
          url: backend.url,
          codeSetVersion: codeSet?.version ?? 0,
          ackedVersion: codeSet?.ackedVersion ?? 0,
          online: (await backend.services.lockers.get(config.lockerId)).online,
        };
      },
    },
    afterStart: () => {
      if (broker === undefined || backend === undefined) return Promise.resolve();
      const { runtime, ed, clock } = requireBuilt();
      agent = startSyncAgent({ url: broker.url, runtime, ed, clock, logger });
      say(`sync agent started: locker ${config.lockerId} connects to the broker as client ${config.lockerId}`);
      return Promise.resolve();
    },
    demoSource: (sim) => {
      if (backend !== undefined) return Promise.resolve(backendParcelSource(backend, deviceConfig.codeLength));
      return Promise.resolve(localParcelSource(issuerFor(sim), (batch) => requireBuilt().runtime.syncPort().applyCodeBatch(batch)));
    },
    stop: async () => {
      // The agent first, so no remote open can start while the relays go off.
      await agent?.stop().catch((err: unknown) => logger.error({ err }, 'simulator.sync-stop-failed'));
      await backend?.stop().catch((err: unknown) => logger.error({ err }, 'simulator.backend-stop-failed'));
      await broker?.close().catch((err: unknown) => logger.error({ err }, 'simulator.broker-stop-failed'));
      agent = undefined;
      backend = undefined;
    },
  };
}
