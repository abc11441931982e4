// Keypad latency while 10k-code batches arrive back to back (issue 7, part 7):
// `npx tsx scripts/bench/keypad-during-batch.bench.ts`. Prints `name: value unit` lines:
//   keypad_to_relay_p50_ms_idle / _p99_ms_idle       Enter → relay pulse, no batch running
//   keypad_to_relay_{p50,p99,max}_ms_during_batch    the same while batches apply back to back
//   event_loop_delay_p99_ms_during_batch             p99 of the event-loop delay histogram meanwhile
//   batch_apply_longest_block_ms                     the longest the event loop was held while the
//                                                    batches streamed (max of the loop delay histogram)
//   batch_apply_10k_ms                               median wall time of one 10k-code delta, from the
//                                                    call to its result, with no key presses
// KPB_BATCHES (default 16) batches stream during the presses. KPB_VIA=agent sends each batch
// as a signed codes/batch message through the sync agent's handler (batch-via-agent.ts):
// the production path but for MQTT (batch_apply_10k_ms then includes building the message);
// by default batches go straight to the store's sliced apply, as decision 0025's figures
// were taken. Delta token ids are 16 characters, as the wire schema requires. KPB_APPLY=one-transaction,
// KPB_CHECKPOINT_EVERY (slices between paced WAL checkpoints; 0 = SQLite's autocheckpoint)
// and KPB_SLICE_MS (staging slice budget) select the variants decision 0025 compares.
// Real runtime, real SQLite file (WAL, synchronous=FULL), real signatures on simulated
// hardware. The hardware's own timers run on a FakeClock (door cycles cost no wall time);
// the key presses are scheduled in wall time and each latency is measured from the
// instant the key was due, not from when a late timer fired: a keypad on a serial line
// queues its bytes while the event loop is busy, so a blocked loop shows up in full.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { cryptoRandom } from '@locker/hal/random.js';
import { createSimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import type { CodeBatch, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { parseDeviceConfig } from '@locker/device/config.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore, type DeviceStore } from '@locker/device/store/device-store.js';
import type { BatchApplyResult, DeviceSyncPort } from '@locker/sync-agent/device-sync-port.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { applyViaAgent } from './batch-via-agent.js';
import { median, percentile, print } from './bench-kit.js';

const LOCKER = 'locker-bench-kpb';
const PEPPER = new Uint8Array(32).fill(7);
const SEEDED = 2_500;
const BATCHES = Number(process.env['KPB_BATCHES'] ?? 16);
const BATCH_ENTRIES = 10_000;
const IDLE_SAMPLES = 300;
/** Batches applied with no key presses, for batch_apply_10k_ms. */
const ALONE = 5;
const T0 = Date.UTC(2026, 10, 22, 12);
const ids = Array.from({ length: 40 }, (_, i) => `A${String(i).padStart(2, '0')}`);

const codeOf = (i: number): string => String(20_000_000 + i);
/** The backend key: signs the tokens and, with KPB_VIA=agent, the batch manifests. */
const ISSUER_KID = 'kpb-k1';
const ISSUER_SEED = new Uint8Array(32).fill(12);

interface Rig {
  runtime: LockerRuntime;
  store: DeviceStore;
  sim: ReturnType<typeof createSimulatedHardware>;
  clock: FakeClock;
  pulses: number[];
  /** The runtime's adapter: its key handles verify only with it. */
  ed: Ed25519;
}

async function openRig(dbPath: string): Promise<Rig> {
  const clock = new FakeClock({ wallMs: T0 + 60_000 });
  const config = parseDeviceConfig({
    lockerId: LOCKER,
    compartments: ids.map((id) => ({ id, size: 'M' })),
    codePepperFile: '/unused',
    dbPath,
    crypto: 'node-crypto',
    lockout: { maxLiveCodes: 1000, freeAttempts: 3 },
    hardware: { kind: 'simulated', compartments: ids.map((id) => ({ id })) },
  });
  const logger = silentLogger();
  const sim = createSimulatedHardware({ compartments: ids.map((id) => ({ id })), clock, debounceMs: 50 });
  let now = (): number => Math.floor(clock.now());
  const store = openDeviceStore({
    path: dbPath, lockerId: LOCKER, logger, now: () => now(),
    // Knobs for comparisons (decision 0025's addendum): the old way of each.
    ...(process.env['KPB_CHECKPOINT_EVERY'] === undefined ? {} : { batchCheckpointEverySlices: Number(process.env['KPB_CHECKPOINT_EVERY']) }),
    ...(process.env['KPB_SLICE_MS'] === undefined ? {} : { batchSliceBudgetMs: Number(process.env['KPB_SLICE_MS']) }),
  });
  const pulses: number[] = [];
  const ed = createEd25519('node-crypto');
  const runtime = new LockerRuntime({
    hardware: sim.hardware, store, ed25519: ed, config: runtimeConfigFrom(config, PEPPER),
    logger, clock, random: cryptoRandom(), beforePulse: () => pulses.push(performance.now()),
  });
  now = () => runtime.trustedNow();
  await runtime.start();
  return { runtime, store, sim, clock, pulses, ed };
}

async function closeRig(rig: Rig): Promise<void> {
  await rig.runtime.stop();
  rig.store.close();
  await rig.sim.hardware.close();
}

/**
 * The apply the sync agent uses (in slices, decision 0025). KPB_APPLY=one-transaction
 * measures the synchronous single-transaction apply instead, for comparison.
 */
function applyOf(port: DeviceSyncPort): (batch: CodeBatch) => Promise<BatchApplyResult> {
  if (process.env['KPB_APPLY'] === 'one-transaction') return (batch) => Promise.resolve(port.applyCodeBatch(batch));
  return (batch) => port.applyCodeBatchInSlices(batch);
}

/** How the streamed batches arrive (KPB_VIA): straight to the store, or through the agent. */
function streamApplyOf(rig: Rig): { apply: (batch: CodeBatch) => Promise<BatchApplyResult>; stop: () => void } {
  if (process.env['KPB_VIA'] !== 'agent') return { apply: applyOf(rig.runtime.syncPort()), stop: () => undefined };
  return applyViaAgent({
    port: rig.runtime.syncPort(), ed: rig.ed, keys: () => rig.runtime.keys(),
    signing: { kid: ISSUER_KID, seed: ISSUER_SEED }, now: () => rig.clock.now(), logger: silentLogger(),
  });
}

async function seed(rig: Rig, issuer: TokenIssuer): Promise<void> {
  const exp = new Date(T0 + 30 * 86_400_000).toISOString();
  const nbf = new Date(T0 - 3_600_000).toISOString();
  const upserts: CodeEntry[] = [];
  for (let i = 0; i < SEEDED; i++) {
    const cmp = ids[i % ids.length] ?? 'A00';
    const cdh = codeDigest(PEPPER, LOCKER, codeOf(i));
    const jti = `tok_kpb_${String(i).padStart(8, '0')}`;
    const token = issuer.issue(LOCKER, { jti, purpose: 'pickup', iat: nbf, nbf, exp, cmp, par: `P${String(i)}`, cdh });
    upserts.push({ tokenId: jti, token, codeDigest: cdh, parcelId: `P${String(i)}`, compartmentId: cmp, size: 'M', kind: 'pickup' });
  }
  const result = await applyOf(rig.runtime.syncPort())({
    lockerId: LOCKER, kind: 'snapshot', fromVersion: 0, toVersion: 1, upserts, revocations: [],
    keyring: [{ op: 'trust', kid: issuer.kid, publicKey: keyToText(issuer.publicKey) }],
  });
  if (result.outcome !== 'applied') throw new Error(`seed batch ${result.outcome}`);
  rig.store.transaction(() => {
    for (const e of upserts) rig.store.markDeposited(e.tokenId, e.compartmentId, T0);
  });
}

/**
 * Batch b of new codes, built as it "arrives": in steps of 500 entries with a loop turn in
 * between (like a message read off the socket), and only when needed, so the bench does
 * not keep 200k entries on the heap whose major GCs would count as keypad latency.
 */
async function deltaBatch(b: number): Promise<CodeBatch> {
  const upserts: CodeEntry[] = [];
  for (let i = 0; i < BATCH_ENTRIES; i++) {
    if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
    const n = (b + 1) * 1_000_000 + i;
    const tokenId = `tok_d${String(n).padStart(11, '0')}`;
    upserts.push({
      tokenId, token: `v4.public.${tokenId}.${'x'.repeat(220)}`, codeDigest: codeDigest(PEPPER, LOCKER, String(30_000_000 + n)),
      parcelId: `D${String(n)}`, compartmentId: ids[n % ids.length] ?? 'A00', size: 'M', kind: 'pickup',
    });
  }
  return { lockerId: LOCKER, kind: 'delta', fromVersion: b + 1, toVersion: b + 2, upserts, revocations: [], keyring: [] };
}

/**
 * Waits until `t`: a timer a little early, then a short spin, so an idle loop's timer slack
 * (a millisecond or more on a loaded machine) does not count as latency; a busy loop still
 * makes the timer late and that lateness does count.
 */
async function sleepUntil(t: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, t - performance.now() - 3)));
  while (performance.now() < t) {
    // spin
  }
}

/**
 * The door cycle after each pulse runs on the FakeClock through many event-loop turns; on
 * a real locker it takes seconds of wall time. The batch stream waits while it runs so the
 * bench measures presses, not a compressed door cycle (without this, a synchronous apply
 * per loop turn leaves a handful of presses per run).
 */
class DoorGate {
  private cycling = false;
  private waiters: Array<() => void> = [];
  begin(): void {
    this.cycling = true;
  }
  end(): void {
    this.cycling = false;
    for (const w of this.waiters.splice(0)) w();
  }
  idle(): Promise<void> {
    return this.cycling ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
  }
}

/** Presses codes from `from` until `keepGoing` turns false; returns Enter-due → pulse latencies. */
async function pressCodes(rig: Rig, gate: DoorGate, from: number, keepGoing: () => boolean, maxSamples: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = from; keepGoing() && latencies.length < maxSamples; i++) {
    const id = ids[i % ids.length] ?? 'A00';
    const due = performance.now() + 4 + Math.random() * 8;
    await sleepUntil(due);
    const before = rig.pulses.length;
    rig.sim.control.keypad.press(codeOf(i));
    rig.sim.control.keypad.pressKey('enter');
    while (rig.pulses.length === before) await new Promise((resolve) => setImmediate(resolve));
    latencies.push((rig.pulses[before] ?? 0) - due);
    gate.begin();
    await rig.clock.advanceAsync(700);
    rig.sim.control.closeDoor(id);
    await rig.clock.advanceAsync(200);
    gate.end();
  }
  return latencies;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-kpb-'));
  try {
    const issuer = new TokenIssuer({ ed: createEd25519('node-crypto'), kid: ISSUER_KID, seed: ISSUER_SEED, issuer: 'bench' });
    const rig = await openRig(join(dir, 'device.db'));
    await seed(rig, issuer);

    const gate = new DoorGate();
    const idle = (await pressCodes(rig, gate, 0, () => true, IDLE_SAMPLES)).slice(50);
    print('keypad_to_relay_p50_ms_idle', percentile(idle, 50), 'ms');
    print('keypad_to_relay_p99_ms_idle', percentile(idle, 99), 'ms');

    const { apply, stop: stopStream } = streamApplyOf(rig);
    let running = true;
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const stream = (async () => {
      for (let b = 0; b < BATCHES; b++) {
        const batch = await deltaBatch(b);
        await gate.idle();
        const result = await apply(batch);
        if (result.outcome !== 'applied') throw new Error(`batch ${String(batch.toVersion)}: ${result.outcome}`);
        // The next batch "arrives": one turn of the event loop, like the next MQTT message.
        await new Promise((resolve) => setImmediate(resolve));
      }
      running = false;
    })();
    const during = await pressCodes(rig, gate, IDLE_SAMPLES, () => running, SEEDED - IDLE_SAMPLES);
    await stream;
    loop.disable();
    print('keypad_to_relay_p50_ms_during_batch', percentile(during, 50), 'ms');
    print('keypad_to_relay_p99_ms_during_batch', percentile(during, 99), 'ms');
    print('keypad_to_relay_max_ms_during_batch', percentile(during, 100), 'ms');
    print('keypad_samples_during_batch', during.length, 'presses');
    print('event_loop_delay_p99_ms_during_batch', Number((loop.percentile(99) / 1e6).toFixed(1)), 'ms');
    print('batch_apply_longest_block_ms', Number((loop.max / 1e6).toFixed(1)), 'ms');
    const applyMs: number[] = [];
    for (let b = BATCHES; b < BATCHES + ALONE; b++) {
      const batch = await deltaBatch(b);
      const started = performance.now();
      const result = await apply(batch);
      applyMs.push(performance.now() - started);
      if (result.outcome !== 'applied') throw new Error(`batch ${String(batch.toVersion)}: ${result.outcome}`);
    }
    print('batch_apply_10k_ms', Number(median(applyMs).toFixed(1)), 'ms');
    stopStream();
    await closeRig(rig);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
