import { join } from 'node:path';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import { silentLogger, type Logger } from '@locker/device/logger.js';
import { keyringSource, mergeKeyringRows } from '@locker/sync-agent/keyring-source.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import type { SyncAgentConfigInput } from '@locker/sync-agent/sync-config.js';
import type { BrokerHarness } from './broker-harness.js';
import { createStorePort, type TestRemoteOpen } from './store-port.js';
import type { TestKeys } from '@locker/contract/test-keys.js';
import type { DeviceSyncPort } from '@locker/sync-agent/device-sync-port.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';
import type { Clock } from '@locker/hal/types.js';

// A locker for sync tests: a real DeviceStore on a SQLite file in `dir`, the test port and
// a SyncAgent with short timers, connected to the given broker.

export const TEST_LOCKER_ID = 'locker-test-1';

export const fastAgentConfig = {
  firmwareVersion: 'test-1.0.0',
  reconnect: { initialMs: 50, maxMs: 500, jitter: 0.5 },
  keepaliveSeconds: 5,
  connectTimeoutMs: 2000,
  audit: { pollMs: 25, ackTimeoutMs: 1500, batchSize: 200, maxInFlight: 8 },
  snapshotRequestIntervalMs: 0,
  restart: { initialMs: 50, maxMs: 500 },
} satisfies Partial<SyncAgentConfigInput>;

export interface TestLocker {
  store: DeviceStore;
  port: DeviceSyncPort & { remote: TestRemoteOpen };
  agent: SyncAgent;
  /** Stops the agent (clean) and closes the store. */
  close(): Promise<void>;
}

export interface TestLockerOptions {
  broker: Pick<BrokerHarness, 'url' | 'protocolVersion'>;
  keys: TestKeys;
  dir: string;
  logger?: Logger;
  config?: Partial<SyncAgentConfigInput>;
  lockerId?: string;
  remote?: Partial<TestRemoteOpen>;
  start?: boolean;
  /** The agent's clock (timers, monotonic time, now); a FakeClock lets a test prove what did not happen. */
  clock?: Clock;
}

export function openTestLockerStore(dir: string, lockerId = TEST_LOCKER_ID, logger: Logger = silentLogger()): DeviceStore {
  return openDeviceStore({ path: join(dir, 'device.sqlite'), lockerId, logger, now: () => Date.now() });
}

export function startTestLocker(o: TestLockerOptions): TestLocker {
  const logger = o.logger ?? silentLogger();
  const store = openTestLockerStore(o.dir, o.lockerId ?? TEST_LOCKER_ID, logger);
  const port = createStorePort(store, o.remote ?? {});
  const agent = new SyncAgent({
    port,
    mqtt: { url: o.broker.url },
    ed: o.keys.ed,
    keys: keyringSource(o.keys.ed, () => mergeKeyringRows(o.keys.rows, store.keyringRows())),
    clock: o.clock ?? new SystemClock(),
    logger,
    config: { ...fastAgentConfig, protocolVersion: o.broker.protocolVersion, ...o.config },
  });
  if (o.start !== false) agent.start();
  return {
    store,
    port,
    agent,
    close: async () => {
      await agent.stop();
      store.close();
    },
  };
}
