import type { Logger } from 'pino';
import { readCodePepper, type DeviceConfig } from '../device/config.js';
import { createEd25519 } from '../device/crypto/create-ed25519.js';
import type { Ed25519 } from '../device/crypto/ed25519.js';
import { LockerRuntime } from '../device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '../device/runtime/runtime-config.js';
import type { DeviceStore } from '../device/store/device-store.js';
import { keyToText } from '../device/tokens/key-text.js';
import { cryptoRandom } from '../hal/random.js';
import type { Clock } from '../hal/types.js';
import { BackendSigner } from '../sync/contract/backend-signer.js';
import type { SyncAgent } from '../sync/agent/sync-agent.js';
import { loadOrCreateSigningKey } from './backend-signing-key.js';
import type { DataDirPaths } from './data-dir.js';
import { DemoIssuer } from './demo-issuer.js';
import type { DemoParcelSource } from './demo-scenario.js';
import { localParcelSource } from './local-parcel-source.js';
import type { LockerSim, RuntimeFactory } from './locker-sim.js';
import { startMqttDemoBackend, type MqttDemoBackend } from './mqtt-parcel-source.js';
import { simDeviceConfig, type SimLockerConfig } from './sim-config.js';
import type { RuntimeView } from './status-report.js';
import { EmbeddedBroker, startSyncAgent } from './sync-link.js';

// Everything around the simulated locker, composed once for main.ts and the tests: the
// real device runtime (built from a device config validated by the device's own schema),
// and, unless offline, an embedded MQTT broker with the real SyncAgent; plus the demo's
// backend side, signing with a key generated in the data dir.

export interface SimStackOptions {
  config: SimLockerConfig;
  paths: DataDirPaths;
  logger: Logger;
  /** false: an offline locker (no broker, no agent); the demo hands its batch over in-process. */
  sync: boolean;
  /** Human-readable progress lines. */
  say: (line: string) => void;
}

export interface SimStack {
  readonly deviceConfig: DeviceConfig;
  readonly createRuntime: RuntimeFactory;
  readonly view: RuntimeView;
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
  const deviceConfig = simDeviceConfig(config, paths);
  // The backend signs with node:crypto whatever the device uses (FACTS.md: ~140x faster).
  const backendEd = createEd25519('node-crypto');
  const key = loadOrCreateSigningKey(paths.backendKeys, backendEd);
  say(key.created ? `backend signing key ${key.kid} generated in ${paths.backendKeys}` : `backend signing key ${key.kid} loaded from ${paths.backendKeys}`);
  const broker = options.sync ? await EmbeddedBroker.start() : undefined;
  if (broker !== undefined) say(`embedded MQTT broker (aedes) on ${broker.url}`);

  let built: Built | undefined;
  let agent: SyncAgent | undefined;
  let mqttBackend: MqttDemoBackend | undefined;
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
    view: {
      lockout: () => built?.runtime.health().lockout,
      sync: () => {
        const status = agent?.status();
        return status === undefined
          ? undefined
          : { connected: status.connected, auditRecordsSent: status.auditRecordsSent, rejections: status.rejections, restarts: status.restarts };
      },
    },
    afterStart: async (sim) => {
      if (broker === undefined) return;
      const { runtime, store, ed, clock } = requireBuilt();
      agent = startSyncAgent({
        url: broker.url, runtime, store, ed, clock, logger,
        // The installer provisions the backend's public key; batches maintain the keyring after that.
        provisionedKeys: [{ kid: key.kid, publicKey: keyToText(key.publicKey), revoked: false }],
      });
      say(`sync agent started: locker ${config.lockerId} connects to the broker as client ${config.lockerId}`);
      // Connected from the start (not only for the demo) so audit uploads are acknowledged.
      const signer = new BackendSigner({ ed: backendEd, kid: key.kid, seed: key.seed, now: () => Date.now() });
      mqttBackend = await startMqttDemoBackend({ url: broker.url, protocolVersion: broker.protocolVersion, signer, issuer: issuerFor(sim) });
      say('stand-in backend connected to the broker (acknowledges audit uploads, publishes the demo batch)');
    },
    demoSource: (sim) => {
      if (mqttBackend !== undefined) return Promise.resolve(mqttBackend.source);
      if (broker !== undefined) return Promise.reject(new Error('demoSource() before afterStart(): the backend is not connected yet'));
      return Promise.resolve(localParcelSource(issuerFor(sim), (batch) => requireBuilt().runtime.syncPort().applyCodeBatch(batch)));
    },
    stop: async () => {
      // The agent first, so no remote open can start while the relays go off.
      await agent?.stop().catch((err: unknown) => logger.error({ err }, 'simulator.sync-stop-failed'));
      await mqttBackend?.close().catch((err: unknown) => logger.error({ err }, 'simulator.backend-stop-failed'));
      await broker?.close().catch((err: unknown) => logger.error({ err }, 'simulator.broker-stop-failed'));
      agent = undefined;
      mqttBackend = undefined;
    },
  };
}
