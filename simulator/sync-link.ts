import type { Logger } from 'pino';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import type { Clock } from '@locker/hal/types.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import type { SyncAgentConfigInput } from '@locker/sync-agent/sync-config.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import { deviceTimeClock } from '@locker/device/runtime/device-time-clock.js';

// The network half of the simulated locker: an embedded MQTT broker (aedes, in-process,
// Nagle off: FACTS.md) and the real SyncAgent talking to the runtime through its sync
// port, in the same process and on the same SQLite connection as on a board
// (docs/decisions/0004). Nothing here is needed for the doors to work: the runtime never
// waits on the network.

/** Shorter than production so the simulator shows uploads and acks while you watch. */
const simAgentConfig = {
  firmwareVersion: 'simulator',
  // aedes 1.x speaks MQTT 3.1.1 only.
  protocolVersion: 4,
  reconnect: { initialMs: 200, maxMs: 5_000, jitter: 0.5 },
  keepaliveSeconds: 30,
  connectTimeoutMs: 5_000,
  audit: { pollMs: 200, ackTimeoutMs: 5_000 },
  healthIntervalMs: 30_000,
  snapshotRequestIntervalMs: 1_000,
  restart: { initialMs: 500, maxMs: 10_000 },
} satisfies SyncAgentConfigInput;

export class EmbeddedBroker {
  private constructor(private readonly harness: AedesHarness) {}

  static async start(): Promise<EmbeddedBroker> {
    return new EmbeddedBroker(await AedesHarness.start());
  }

  get url(): string {
    return this.harness.url;
  }

  close(): Promise<void> {
    return this.harness.close();
  }
}

export interface SyncLinkOptions {
  url: string;
  runtime: LockerRuntime;
  ed: Ed25519;
  clock: Clock;
  logger: Logger;
}

/** Starts the SyncAgent for the locker; returns it (stop() it before the runtime). */
export function startSyncAgent(options: SyncLinkOptions): SyncAgent {
  const { runtime, ed } = options;
  const agent = new SyncAgent({
    port: runtime.syncPort(),
    mqtt: { url: options.url },
    ed,
    // As device/main.ts: the runtime's keyring, i.e. the device config's trustedKeys (the
    // provisioning bundle) merged under the rows code batches stored.
    keys: () => runtime.keys(),
    // As device/main.ts: command expiry and key retirement judged by confirmed device time
    // (device/runtime/device-time-clock.ts), the wall clock only until time is confirmed.
    clock: deviceTimeClock(options.clock, () => runtime.confirmedNow()),
    logger: options.logger.child({ component: 'sync-agent' }),
    config: simAgentConfig,
  });
  agent.start();
  return agent;
}
