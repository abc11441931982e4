// Sync throughput over a real broker: `npx tsx scripts/bench/sync.bench.ts`.
// Prints `name: value unit` lines. Embedded aedes (in-process, as in tests) first, then a
// private Mosquitto with the `_mosquitto` suffix when the binary is installed.
//   raw_mqtt_qos1_msgs_per_s      plain mqtt.js QoS 1 publish → subscribe, 100-byte payloads
//   audit_upload_events_per_s     agent uploading a 20k-event backlog from SQLite, until the
//                                 locker has the backend's signed acks for all of it
//   code_batch_10k_end_to_end_ms  backend signs and publishes a 10k-token batch → locker
//                                 verified, applied (one SQLite transaction) and acked (median of 3)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { AedesHarness } from '@locker/sync-testing/aedes-harness.js';
import type { BrokerHarness } from '@locker/sync-testing/broker-harness.js';
import { hasMosquitto, MosquittoHarness } from '@locker/sync-testing/mosquitto-harness.js';
import { TestBackend } from '@locker/sync-testing/test-backend.js';
import { makeTestKeys, type TestKeys } from '@locker/contract/test-keys.js';
import { startTestLocker, TEST_LOCKER_ID } from '@locker/sync-testing/test-locker.js';
import { print } from './bench-kit.js';

const RAW_MESSAGES = 20_000;
const AUDIT_EVENTS = 20_000;
const BATCH_TOKENS = 10_000;

async function client(broker: BrokerHarness, id: string): Promise<MqttClient> {
  const c = await connectAsync(broker.url, { clientId: id, protocolVersion: broker.protocolVersion, reconnectPeriod: 0 });
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return c;
}

async function rawQos1(broker: BrokerHarness): Promise<number> {
  const pub = await client(broker, 'bench-pub');
  const sub = await client(broker, 'bench-sub');
  await sub.subscribeAsync('bench/raw', { qos: 1 });
  const payload = Buffer.alloc(100, 0x61);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    sub.on('message', () => {
      if (++received === RAW_MESSAGES) resolve();
    });
  });
  const start = performance.now();
  // A window of 1,000 unacked publishes, like the agent's bounded in-flight upload window.
  let inFlight = 0;
  for (let i = 0; i < RAW_MESSAGES; i++) {
    while (inFlight >= 1000) await new Promise((r) => setImmediate(r));
    inFlight++;
    pub.publish('bench/raw', payload, { qos: 1 }, () => {
      inFlight--;
    });
  }
  await done;
  const rate = RAW_MESSAGES / ((performance.now() - start) / 1000);
  await pub.endAsync(true);
  await sub.endAsync(true);
  return Math.round(rate);
}

/** The TestBackend connected in run() stores the uploads and signs the acks. */
async function auditUpload(broker: BrokerHarness, keys: TestKeys): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-'));
  try {
    const offline = startTestLocker({ broker, keys, dir, start: false });
    offline.store.transaction(() => {
      for (let i = 1; i <= AUDIT_EVENTS; i++) {
        offline.store.appendAudit(i % 1000 === 0 ? 'door.uncommanded-open' : 'door.closed', i % 1000 === 0 ? 'priority' : 'normal', { compartmentId: `C${String(i % 40)}`, openMs: i, commanded: true });
      }
    });
    await offline.close();
    const locker = startTestLocker({ broker, keys, dir, start: false, config: { audit: { pollMs: 25, ackTimeoutMs: 5000, batchSize: 200, maxInFlight: 8 } } });
    const start = performance.now();
    locker.agent.start();
    while (locker.store.auditAckedWatermark() < AUDIT_EVENTS) await new Promise((r) => setTimeout(r, 2));
    const rate = AUDIT_EVENTS / ((performance.now() - start) / 1000);
    await locker.close();
    return Math.round(rate);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function realEntries(keys: TestKeys, from: number): CodeEntry[] {
  const issuer = new TokenIssuer({ ed: keys.ed, kid: keys.signer.kid, seed: keys.seed, issuer: 'bench' });
  const now = Date.now();
  return Array.from({ length: BATCH_TOKENS }, (_, i) => {
    const n = from + i;
    const tokenId = `tok_${String(n).padStart(16, '0')}`;
    const compartmentId = `C${String(n % 40)}`;
    const token = issuer.issue(TEST_LOCKER_ID, {
      jti: tokenId, purpose: 'pickup', iat: new Date(now).toISOString(), nbf: new Date(now).toISOString(),
      exp: new Date(now + 72 * 3600_000).toISOString(), cmp: compartmentId, par: `P${String(n)}`,
    });
    return { tokenId, token, parcelId: `P${String(n)}`, compartmentId, size: 'M', kind: 'pickup' };
  });
}

async function codeBatch10k(broker: BrokerHarness, keys: TestKeys, backend: TestBackend): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'sync-bench-'));
  const locker = startTestLocker({ broker, keys, dir });
  try {
    await backend.waitFor(() => backend.presence.get(TEST_LOCKER_ID)?.status === 'online', 10_000, 'birth');
    const times: number[] = [];
    for (let round = 0; round < 3; round++) {
      const upserts = realEntries(keys, round * BATCH_TOKENS);
      const acks = backend.codeAcks.length;
      const start = performance.now();
      backend.publishBatch({ lockerId: TEST_LOCKER_ID, kind: 'delta', fromVersion: round, toVersion: round + 1, upserts, revocations: [], keyring: [] });
      await backend.waitFor(() => backend.codeAcks.length > acks, 30_000, 'batch ack');
      times.push(performance.now() - start);
      const ack = backend.codeAcks[backend.codeAcks.length - 1];
      if (ack?.outcome !== 'applied') throw new Error(`batch not applied: ${String(ack?.outcome)}`);
    }
    times.sort((a, b) => a - b);
    return Math.round(times[1] ?? 0);
  } finally {
    await locker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function run(broker: BrokerHarness, suffix: string): Promise<void> {
  const keys = makeTestKeys();
  const backend = await TestBackend.connect({ url: broker.url, signer: keys.signer, protocolVersion: broker.protocolVersion, clientId: `bench-backend${suffix}` });
  try {
    const raw = await rawQos1(broker);
    print(`raw_mqtt_qos1_msgs_per_s${suffix}`, raw, 'msg/s');
    const audit = await auditUpload(broker, keys);
    print(`audit_upload_events_per_s${suffix}`, audit, 'events/s');
    print(`audit_upload_vs_raw_ratio${suffix}`, Math.round((audit / raw) * 100) / 100, 'x');
    print(`code_batch_10k_end_to_end_ms${suffix}`, await codeBatch10k(broker, keys, backend), 'ms');
  } finally {
    await backend.close();
    await broker.close();
  }
}

await run(await AedesHarness.start(), '');
if (hasMosquitto) await run(await MosquittoHarness.start(), '_mosquitto');
else process.stdout.write('# mosquitto not installed: _mosquitto figures skipped\n');
process.exit(0);
