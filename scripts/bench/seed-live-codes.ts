// A device database holding N live pickup codes, as a locker with a full cache has it:
// signed tokens (node:crypto), one snapshot batch applied through the runtime's sync port
// (so the rows, indexes and keyring are what the real ingest writes), every parcel
// deposited. Shared by the benches that need a full store; the simulated hardware runs on
// a FakeClock, so seeding costs no door-cycle wall time.
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { cryptoRandom } from '@locker/hal/random.js';
import { createSimulatedHardware } from '@locker/hal/sim/simulated-hardware.js';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import { codeDigest } from '@locker/contract/codes/code-digest.js';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { parseDeviceConfig } from '@locker/device/config.js';
import { silentLogger } from '@locker/device/logger.js';
import { LockerRuntime } from '@locker/device/runtime/locker-runtime.js';
import { runtimeConfigFrom } from '@locker/device/runtime/runtime-config.js';
import { openDeviceStore } from '@locker/device/store/device-store.js';

export interface SeedOptions {
  dbPath: string;
  lockerId: string;
  pepper: Uint8Array;
  compartmentIds: readonly string[];
  count: number;
  /** Wall time of the seed (ms); the codes are valid from an hour before to 30 days after. */
  nowMs: number;
}

/** The device config fields that match a seeded store (add codePepperFile, dbPath, logLevel). */
export function seededConfigFields(o: Pick<SeedOptions, 'lockerId' | 'compartmentIds'>): Record<string, unknown> {
  return {
    lockerId: o.lockerId,
    compartments: o.compartmentIds.map((id) => ({ id, size: 'M' })),
    // The cache holds far more live codes than the lockout math is tuned for (200).
    lockout: { maxLiveCodes: 1000, freeAttempts: 3 },
    hardware: { kind: 'simulated', compartments: o.compartmentIds.map((id) => ({ id })) },
  };
}

/** The keypad code of the i-th seeded parcel. */
export function seededCode(i: number): string {
  return String(10_000_000 + i);
}

export async function seedLiveCodes(o: SeedOptions): Promise<void> {
  const clock = new FakeClock({ wallMs: o.nowMs });
  const logger = silentLogger();
  const ed = createEd25519('node-crypto');
  const issuer = new TokenIssuer({ ed, kid: 'bench-k1', seed: new Uint8Array(32).fill(11), issuer: 'bench' });
  const config = parseDeviceConfig({ ...seededConfigFields(o), codePepperFile: '/unused', dbPath: o.dbPath });
  const sim = createSimulatedHardware({ compartments: o.compartmentIds.map((id) => ({ id })), clock });
  let now = (): number => Math.floor(clock.now());
  const store = openDeviceStore({ path: o.dbPath, lockerId: o.lockerId, logger, now: () => now() });
  const runtime = new LockerRuntime({ hardware: sim.hardware, store, ed25519: ed, config: runtimeConfigFrom(config, o.pepper), logger, clock, random: cryptoRandom() });
  now = () => runtime.trustedNow();
  await runtime.start();
  try {
    const exp = new Date(o.nowMs + 30 * 86_400_000).toISOString();
    const nbf = new Date(o.nowMs - 3_600_000).toISOString();
    const upserts: CodeEntry[] = [];
    for (let i = 0; i < o.count; i++) {
      const cmp = o.compartmentIds[i % o.compartmentIds.length] ?? 'A00';
      const cdh = codeDigest(o.pepper, o.lockerId, seededCode(i));
      const jti = `tok_bench_${String(i).padStart(8, '0')}`;
      const token = issuer.issue(o.lockerId, { jti, purpose: 'pickup', iat: nbf, nbf, exp, cmp, par: `P${String(i)}`, cdh });
      upserts.push({ tokenId: jti, token, codeDigest: cdh, parcelId: `P${String(i)}`, compartmentId: cmp, size: 'M', kind: 'pickup' });
    }
    const result = runtime.syncPort().applyCodeBatch({
      lockerId: o.lockerId, kind: 'snapshot', fromVersion: 0, toVersion: 1, upserts, revocations: [],
      keyring: [{ op: 'trust', kid: issuer.kid, publicKey: keyToText(issuer.publicKey) }],
    });
    if (result.outcome !== 'applied') throw new Error(`seed batch ${result.outcome}`);
    store.transaction(() => {
      for (const e of upserts) store.markDeposited(e.tokenId, e.compartmentId, o.nowMs);
    });
    if (store.liveCodeCount() < o.count) throw new Error(`seeded ${String(store.liveCodeCount())} live codes, wanted ${String(o.count)}`);
  } finally {
    await runtime.stop();
    store.close();
    await sim.hardware.close();
  }
}
