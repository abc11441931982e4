// Device runtime latency and memory with a full cache: `npx tsx scripts/bench/device-runtime.bench.ts`.
// Prints `name: value unit` lines:
//   keypad_to_relay_{p50,p99}_ms_{node_crypto,tweetnacl}  Enter key → relay pulse call, 100,000 live codes
//   qr_to_relay_{p50,p99}_ms                              scan of a token not in the cache → pulse (node:crypto)
// Real SQLite file (WAL, synchronous=FULL), real signatures, real verification; the
// simulated hardware runs on a FakeClock so door cycles between samples cost no wall time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { cryptoRandom } from '@locker/hal/random.js';
import { createSimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import type { Clock } from '@locker/hal/types.js';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { parseDeviceConfig, type DeviceConfig } from '@locker/device/config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519Kind } from '@locker/contract/crypto/ed25519.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { percentile, print } from './bench-kit.js';

const LOCKER = 'locker-bench-rt';
const PEPPER = new Uint8Array(32).fill(5);
const CODES = 100_000;
const T0 = Date.UTC(2026, 10, 22, 12);
const ids = Array.from({ length: 40 }, (_, i) => `A${String(i).padStart(2, '0')}`);

function configFor(dbPath: string, crypto: Ed25519Kind): DeviceConfig {
  return parseDeviceConfig({
    lockerId: LOCKER,
    compartments: ids.map((id) => ({ id, size: 'M' })),
    codePepperFile: '/unused',
    dbPath,
    crypto,
    // The cache holds 100k live codes for this figure; the lockout math is for 200.
    lockout: { maxLiveCodes: 1000, freeAttempts: 3 },
    hardware: { kind: 'simulated', compartments: ids.map((id) => ({ id })) },
  });
}

function codeOf(i: number): string {
  return String(10_000_000 + i);
}

async function openRuntime(dbPath: string, crypto: Ed25519Kind, clock: Clock, onPulse?: () => void): Promise<{ runtime: LockerRuntime; store: DeviceStore; sim: ReturnType<typeof createSimulatedHardware> }> {
  const config = configFor(dbPath, crypto);
  const logger = silentLogger();
  const sim = createSimulatedHardware({ compartments: ids.map((id) => ({ id })), clock, debounceMs: 50 });
  let now = (): number => Math.floor(clock.now());
  const store = openDeviceStore({ path: dbPath, lockerId: LOCKER, logger, now: () => now() });
  const runtime = new LockerRuntime({
    hardware: sim.hardware,
    store,
    ed25519: createEd25519(crypto),
    config: runtimeConfigFrom(config, PEPPER),
    logger,
    clock,
    random: cryptoRandom(),
    ...(onPulse === undefined ? {} : { beforePulse: onPulse }),
  });
  now = () => runtime.trustedNow();
  await runtime.start();
  return { runtime, store, sim };
}

async function seed(dbPath: string, issuer: TokenIssuer): Promise<void> {
  const clock = new FakeClock({ wallMs: T0 });
  const { runtime, store, sim } = await openRuntime(dbPath, 'node-crypto', clock);
  const exp = new Date(T0 + 30 * 86_400_000).toISOString();
  const nbf = new Date(T0 - 3_600_000).toISOString();
  const upserts: CodeEntry[] = [];
  for (let i = 0; i < CODES; i++) {
    const cmp = ids[i % ids.length] ?? 'A00';
    const cdh = codeDigest(PEPPER, LOCKER, codeOf(i));
    const jti = `tok_bench_${String(i).padStart(8, '0')}`;
    const token = issuer.issue(LOCKER, { jti, purpose: 'pickup', iat: nbf, nbf, exp, cmp, par: `P${String(i)}`, cdh });
    upserts.push({ tokenId: jti, token, codeDigest: cdh, parcelId: `P${String(i)}`, compartmentId: cmp, size: 'M', kind: 'pickup' });
  }
  const result = runtime.syncPort().applyCodeBatch({
    lockerId: LOCKER, kind: 'snapshot', fromVersion: 0, toVersion: 1, upserts, revocations: [],
    keyring: [{ op: 'trust', kid: issuer.kid, publicKey: keyToText(issuer.publicKey) }],
  });
  if (result.outcome !== 'applied') throw new Error(`seed batch ${result.outcome}`);
  store.transaction(() => {
    for (const e of upserts) store.markDeposited(e.tokenId, e.compartmentId, T0);
  });
  await runtime.stop();
  store.close();
  await sim.hardware.close();
}

async function keypadLatency(dbPath: string, crypto: Ed25519Kind, from: number, samples: number): Promise<number[]> {
  const clock = new FakeClock({ wallMs: T0 + 60_000 });
  let t0 = 0;
  const latencies: number[] = [];
  const { runtime, store, sim } = await openRuntime(dbPath, crypto, clock, () => latencies.push(performance.now() - t0));
  for (let i = from; i < from + samples; i++) {
    const id = ids[i % ids.length] ?? 'A00';
    sim.control.keypad.press(codeOf(i));
    t0 = performance.now();
    sim.control.keypad.pressKey('enter');
    await clock.advanceAsync(700);
    sim.control.closeDoor(id);
    await clock.advanceAsync(200);
  }
  if (latencies.length !== samples) throw new Error(`${crypto}: ${String(latencies.length)} pulses for ${String(samples)} codes`);
  await runtime.stop();
  store.close();
  await sim.hardware.close();
  return latencies;
}

async function qrLatency(dbPath: string, issuer: TokenIssuer, samples: number): Promise<number[]> {
  const clock = new FakeClock({ wallMs: T0 + 60_000 });
  let t0 = 0;
  const latencies: number[] = [];
  const { runtime, store, sim } = await openRuntime(dbPath, 'node-crypto', clock, () => latencies.push(performance.now() - t0));
  const nbf = new Date(T0 - 3_600_000).toISOString();
  const exp = new Date(T0 + 86_400_000).toISOString();
  for (let i = 0; i < samples; i++) {
    const id = ids[i % ids.length] ?? 'A00';
    const token = issuer.issue(LOCKER, { jti: `tok_qr_${String(i).padStart(10, '0')}`, purpose: 'pickup', iat: nbf, nbf, exp, cmp: id, par: `Q${String(i)}` });
    t0 = performance.now();
    sim.control.scanner.scan(token);
    await clock.advanceAsync(700);
    sim.control.closeDoor(id);
    await clock.advanceAsync(200);
  }
  if (latencies.length !== samples) throw new Error(`qr: ${String(latencies.length)} pulses for ${String(samples)} scans`);
  await runtime.stop();
  store.close();
  await sim.hardware.close();
  return latencies;
}

/** The floor under every latency above: one single-row commit with synchronous=FULL. */
function fsyncP99(path: string): number {
  const store = openDeviceStore({ path, lockerId: LOCKER, logger: silentLogger(), now: () => Date.now() });
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    store.saveState('bench-probe', JSON.stringify({ i }));
    samples.push(performance.now() - t);
  }
  store.close();
  return percentile(samples, 99);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-runtime-'));
  const dbPath = join(dir, 'device.db');
  try {
    const issuer = new TokenIssuer({ ed: createEd25519('node-crypto'), kid: 'bench-k1', seed: new Uint8Array(32).fill(11), issuer: 'bench' });
    await seed(dbPath, issuer);
    // The first samples of each run warm the JIT and SQLite's page cache; they are dropped.
    const node = (await keypadLatency(dbPath, 'node-crypto', 0, 2100)).slice(100);
    print('keypad_to_relay_p50_ms_node_crypto', percentile(node, 50), 'ms');
    print('keypad_to_relay_p99_ms_node_crypto', percentile(node, 99), 'ms');
    const nacl = (await keypadLatency(dbPath, 'tweetnacl', 2100, 320)).slice(20);
    print('keypad_to_relay_p50_ms_tweetnacl', percentile(nacl, 50), 'ms');
    print('keypad_to_relay_p99_ms_tweetnacl', percentile(nacl, 99), 'ms');
    const qr = (await qrLatency(dbPath, issuer, 1100)).slice(100);
    print('qr_to_relay_p50_ms', percentile(qr, 50), 'ms');
    print('qr_to_relay_p99_ms', percentile(qr, 99), 'ms');
    print('sqlite_full_commit_p99_ms', fsyncP99(join(dir, 'probe.db')), 'ms');
    // device_rss_mb is measured on the compiled device process: scripts/bench/device-process.bench.ts.
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
