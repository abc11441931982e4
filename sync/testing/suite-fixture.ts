import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerHarness } from './broker-harness.js';
import { captureLogs, type LogCapture } from './log-capture.js';
import { TestBackend } from './test-backend.js';
import { makeTestKeys, type TestKeys } from '@locker/contract/test-keys.js';
import { startTestLocker, type TestLocker, type TestLockerOptions } from './test-locker.js';

// Per-test wiring shared by the suites that run against both brokers: a broker, a test
// backend, a temp dir, and helpers to start (and restart) the locker.

export type BrokerFactory = () => Promise<BrokerHarness>;

export interface SuiteWorld {
  broker: BrokerHarness;
  backend: TestBackend;
  keys: TestKeys;
  dir: string;
  logs: LogCapture;
  locker(options?: Partial<Omit<TestLockerOptions, 'broker' | 'keys' | 'dir'>>): TestLocker;
  dispose(): Promise<void>;
}

export async function makeWorld(startBroker: BrokerFactory): Promise<SuiteWorld> {
  const broker = await startBroker();
  const keys = makeTestKeys();
  const backend = await TestBackend.connect({ url: broker.url, signer: keys.signer, protocolVersion: broker.protocolVersion });
  const dir = mkdtempSync(join(tmpdir(), 'sync-test-'));
  const logs = captureLogs();
  const lockers: TestLocker[] = [];
  return {
    broker, backend, keys, dir, logs,
    locker: (options = {}) => {
      const l = startTestLocker({ broker, keys, dir, logger: logs.logger, ...options });
      lockers.push(l);
      return l;
    },
    dispose: async () => {
      for (const l of lockers) await l.close().catch(() => undefined);
      await backend.close();
      await broker.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
