import type { Logger } from 'pino';
import { readCodePepper, type DeviceConfig } from '@locker/device/config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { cryptoRandom } from '@locker/hal/random.js';
import type { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import { backendParcelSource } from './backend-parcel-source.js';
import { loadOrCreateSigningKey } from './backend-signing-key.js';
import { ensureDataDir, type DataDirPaths } from './data-dir.js';
import { DemoIssuer } from './demo-issuer.js';
import type { DemoParcelSource } from './demo-scenario.js';
import { localParcelSource } from './local-parcel-source.js';
import type { LockerSim, RuntimeFactory } from './locker-sim.js';
import { NetworkLink } from './network-link.js';
import { simDeviceConfig, type SimLockerConfig } from './sim-config.js';
import { startSimNetwork, type BackendApi, type SimNetwork } from './sim-network.js';
import type { RuntimeView } from './status-report.js';
import { startSyncAgent } from './sync-link.js';

// Everything around one simulated locker: the real device runtime (built from a device
// config validated by the device's own schema) and, unless offline, its network cable
// (network-link.ts) to the session's broker and the real SyncAgent. The broker and backend
// are the session's (sim-network.ts); a stack made without one starts its own, as a
// single-locker simulator did. Offline, the demo signs with the session's backend key
// in-process and hands the batch over directly.

export interface SimStackOptions {
  config: SimLockerConfig;
  paths: DataDirPaths;
  logger: Logger;
  /** false: an offline locker (no broker, backend or agent); the demo hands its batch over in-process. */
  sync: boolean;
  /** Human-readable progress lines. */
  say: (line: string) => void;
  /** The session's broker and backend; absent = this stack starts (and stops) its own. */
  network?: SimNetwork;
  /** The backend side's time (session time, never a locker's skewed wall clock); Date.now by default. */
  backendNow?: () => number;
}

export interface SimStack {
  readonly deviceConfig: DeviceConfig;
  readonly createRuntime: RuntimeFactory;
  readonly view: RuntimeView;
  /** The backend's HTTP API, when online. */
  readonly backendUrl: string | undefined;
  /** Bearer key for the backend's HTTP API (undefined offline). */
  readonly backendApiKey: string | undefined;
  /** Connects the locker to the broker once it runs (no-op when offline); again after a power cut. */
  afterStart(sim: LockerSim): Promise<void>;
  /** The demo's backend side: issues tokens and gets the batch onto the locker. */
  demoSource(sim: LockerSim): Promise<DemoParcelSource>;
  /** The backend's API (undefined offline). */
  readonly api: BackendApi | undefined;
  /** Signs with the backend's key when it is here (embedded backend or offline); undefined for an external backend. */
  issuer(sim: LockerSim): DemoIssuer | undefined;
  /** The locker's network cable: undefined offline. */
  readonly link: NetworkLink | undefined;
  /**
   * The device process dies with the locker's power: the broker sees its connection drop
   * without a goodbye, and the agent (same process) is gone.
   */
  powerCut(sim: LockerSim): Promise<void>;
  /** Stops the network side. Call BEFORE stopping the locker, as device/main.ts does. */
  stop(): Promise<void>;
}

export async function createSimStack(options: SimStackOptions): Promise<SimStack> {
  const { config, paths, say, logger } = options;
  // Validated before anything starts (a bad config is a usage error), again below with keys.
  let deviceConfig = simDeviceConfig(config, paths);
  ensureDataDir(paths);
  const ownNetwork = options.network === undefined
    ? await startSimNetwork({ sync: options.sync, external: {}, paths, logLevel: config.logLevel, logger, say })
    : undefined;
  const network = options.network ?? ownNetwork;
  if (network === undefined) throw new Error('no network');
  const online = options.sync && network.brokerUrl !== undefined;
  let link: NetworkLink | undefined;
  if (online && network.brokerUrl !== undefined) {
    try {
      // The provisioning bundle's keyring goes where an installer puts a board's: into the
      // device config's trustedKeys. Runtime (QR tokens) and sync agent (seals) both use it.
      deviceConfig = simDeviceConfig(config, paths, await network.provision(config, paths));
      link = await NetworkLink.start(network.brokerUrl);
    } catch (err) {
      await ownNetwork?.stop();
      throw err;
    }
  }
  const backend = network.backend;

  let runtime: LockerRuntime | undefined;
  // The agent verifies seals with key handles the runtime's keyring imported: same adapter.
  let runtimeEd: Ed25519 | undefined;
  let agent: SyncAgent | undefined;
  const issuerFor = (sim: LockerSim): DemoIssuer => {
    const backendEd = createEd25519('node-crypto');
    const key = loadOrCreateSigningKey(paths.backendKeys, backendEd);
    return new DemoIssuer({ ed: backendEd, key, lockerId: sim.lockerId, pepper: readCodePepper(paths.codePepper), now: options.backendNow ?? (() => Date.now()), codeLength: deviceConfig.codeLength });
  };
  const requireRuntime = (): LockerRuntime => {
    if (runtime === undefined) throw new Error('the device runtime has not been built yet');
    return runtime;
  };
  const stopAgent = async (): Promise<void> => {
    const running = agent;
    agent = undefined;
    await running?.stop().catch((err: unknown) => logger.error({ err }, 'simulator.sync-stop-failed'));
  };

  return {
    deviceConfig,
    link,
    createRuntime: (parts) => {
      runtimeEd = parts.ed25519;
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
    api: network.api,
    issuer: (sim) => (network.api?.external === true ? undefined : issuerFor(sim)),
    backendUrl: network.api?.url,
    backendApiKey: network.api?.apiKey,
    view: {
      lockout: () => runtime?.health().lockout,
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
    afterStart: (sim) => {
      if (link === undefined) return Promise.resolve();
      agent = startSyncAgent({ url: link.url, runtime: requireRuntime(), ed: runtimeEd ?? createEd25519(config.crypto), clock: sim.processClock, logger });
      say(`sync agent started: locker ${config.lockerId} connects to the broker as client ${config.lockerId}`);
      return Promise.resolve();
    },
    demoSource: (sim) => {
      if (network.api?.external === true) {
        // The external backend signs with its own keys and notifies customers its own way.
        return Promise.reject(new Error(`with an external backend, place orders through its API (${network.api.url}); the locker takes part as usual`));
      }
      if (backend !== undefined) return Promise.resolve(backendParcelSource(backend, deviceConfig.codeLength));
      return Promise.resolve(localParcelSource(issuerFor(sim), (batch) => requireRuntime().syncPort().applyCodeBatch(batch)));
    },
    powerCut: (sim) => {
      // The TCP connection dies with the board: reset, no DISCONNECT, so the broker
      // publishes the locker's last will. Then the process is gone (sim.powerCut). The agent
      // object lived in that process: its MQTT client is ended so it cannot reconnect as a
      // ghost, but nothing of its graceful stop is awaited (its timers died with the gate).
      const wasUp = link?.up ?? false;
      link?.down();
      sim.powerCut();
      const dead = agent;
      agent = undefined;
      void dead?.stop().catch(() => undefined);
      if (wasUp) link?.restore();
      return Promise.resolve();
    },
    stop: async () => {
      // The agent first, so no remote open can start while the relays go off.
      await stopAgent();
      await link?.close();
      await ownNetwork?.stop();
    },
  };
}
