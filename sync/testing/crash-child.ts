// A locker process for the crash test (agent/crash-during-apply.test.ts): the real
// DeviceStore and SyncAgent, configured from the environment. It prints "APPLYING" on
// stdout synchronously just before the store starts applying a code batch, so the parent
// can SIGKILL it in the middle of the transaction.
import { writeSync } from 'node:fs';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { silentLogger } from '@locker/device/logger.js';
import type { KeyringRow } from '@locker/device/store/runtime-store.js';
import { keyringSource, mergeKeyringRows } from '@locker/sync-agent/keyring-source.js';
import { SyncAgent } from '@locker/sync-agent/sync-agent.js';
import { createStorePort } from './store-port.js';
import { fastAgentConfig, openTestLockerStore } from './test-locker.js';
import { SystemClock } from '@locker/hal/clock/system-clock.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};

const ed = createEd25519('node-crypto');
const rows = JSON.parse(env('SYNC_KEYRING_ROWS')) as KeyringRow[];
const store = openTestLockerStore(env('SYNC_DIR'));
const port = createStorePort(store);
const apply = port.applyCodeBatchInSlices.bind(port);
port.applyCodeBatchInSlices = async (batch) => {
  writeSync(1, 'APPLYING\n');
  const result = await apply(batch);
  writeSync(1, `APPLIED ${result.outcome}\n`);
  return result;
};
const agent = new SyncAgent({
  port,
  mqtt: { url: env('SYNC_BROKER_URL') },
  ed,
  keys: keyringSource(ed, () => mergeKeyringRows(rows, store.keyringRows())),
  clock: new SystemClock(),
  logger: silentLogger(),
  config: { ...fastAgentConfig, protocolVersion: Number(env('SYNC_PROTOCOL')) === 5 ? 5 : 4 },
});
agent.start();
writeSync(1, 'STARTED\n');
