// Device store benchmark (run: npx tsx scripts/bench/device-store.bench.ts).
// The target: applying a 10k-entry code batch takes at most 1.5x the time of
// plain INSERTs of the same rows, in one transaction, into an equivalent table (same
// columns, constraints and indexes) in the same file with the same synchronous=FULL.
// Runs alternate which goes first so neither always meets a warmer cache.
import { join } from 'node:path';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import type { DeviceStore } from '@locker/device/store/device-store.js';
import { makeBatch, makeEntries, makeEntry, openTestStore, tempDir } from '@locker/device/store/store-test-fixtures.js';

const RUNS = 9;
const ENTRIES = 10_000;
const LOOKUP_SET = 100_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function createRawTable(store: DeviceStore): void {
  store.database.exec(`
    CREATE TABLE raw_entries (
      token_id TEXT PRIMARY KEY, token TEXT NOT NULL, code_digest TEXT, parcel_id TEXT NOT NULL,
      compartment_id TEXT NOT NULL, current_compartment_id TEXT NOT NULL,
      size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')), kind TEXT NOT NULL CHECK (kind IN ('pickup', 'return-dropoff')),
      state TEXT NOT NULL CHECK (state IN ('awaiting-deposit', 'live', 'collected', 'expired', 'retrieved', 'revoked')),
      in_set INTEGER NOT NULL CHECK (in_set IN (0, 1)), received_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
      deposited_at INTEGER, closed_at INTEGER
    ) STRICT;
    CREATE UNIQUE INDEX raw_open_digest ON raw_entries (code_digest) WHERE state IN ('awaiting-deposit', 'live') AND code_digest IS NOT NULL;
    CREATE INDEX raw_parcel ON raw_entries (parcel_id);
    CREATE INDEX raw_live_compartment ON raw_entries (current_compartment_id) WHERE state = 'live';`);
}

function rawInsert(store: DeviceStore, entries: readonly CodeEntry[]): number {
  const insert = store.database.prepare(
    `INSERT INTO raw_entries (token_id, token, code_digest, parcel_id, compartment_id, current_compartment_id, size, kind, state, in_set, received_at, updated_at)
     VALUES (@tokenId, @token, @codeDigest, @parcelId, @compartmentId, @compartmentId, @size, @kind, 'awaiting-deposit', 1, @at, @at)`,
  );
  const started = performance.now();
  store.transaction(() => {
    for (const e of entries) {
      insert.run({ tokenId: e.tokenId, token: e.token, codeDigest: e.codeDigest ?? null, parcelId: e.parcelId, compartmentId: e.compartmentId, size: e.size, kind: e.kind, at: 1 });
    }
  });
  return performance.now() - started;
}

function batchApply(store: DeviceStore, entries: CodeEntry[]): number {
  const started = performance.now();
  const result = store.applyCodeBatch(makeBatch({ upserts: entries }));
  const ms = performance.now() - started;
  if (result.outcome !== 'applied') throw new Error(`batch not applied: ${result.outcome}`);
  return ms;
}

function applyVersusRaw(): { apply: number; raw: number } {
  const apply: number[] = [];
  const raw: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { dir, cleanup } = tempDir('device-store-bench-');
    const store = openTestStore(join(dir, 'bench.db'));
    try {
      createRawTable(store);
      const entries = makeEntries(run * ENTRIES, ENTRIES);
      if (run % 2 === 0) {
        apply.push(batchApply(store, entries));
        raw.push(rawInsert(store, entries));
      } else {
        raw.push(rawInsert(store, entries));
        apply.push(batchApply(store, entries));
      }
    } finally {
      store.close();
      cleanup();
    }
  }
  return { apply: median(apply), raw: median(raw) };
}

function lookupsPerSecond(): number {
  const { dir, cleanup } = tempDir('device-store-bench-');
  const store = openTestStore(join(dir, 'lookup.db'));
  try {
    // return-dropoff entries are live from the start: 100k codes that open something.
    const entries = Array.from({ length: LOOKUP_SET }, (_, i) => makeEntry(i, { kind: 'return-dropoff' }));
    store.applyCodeBatch(makeBatch({ upserts: entries }));
    if (store.liveCodeCount() !== LOOKUP_SET) throw new Error('live set not built');
    const digests = entries.map((e) => e.codeDigest ?? '');
    let found = 0;
    let n = 0;
    const started = performance.now();
    while (performance.now() - started < 1500) {
      for (let i = 0; i < 1000; i++, n++) {
        if (store.findEntryByCodeDigest(digests[(n * 7919) % LOOKUP_SET]!) !== undefined) found++;
      }
    }
    const seconds = (performance.now() - started) / 1000;
    if (found !== n) throw new Error('lookup missed a live code');
    return n / seconds;
  } finally {
    store.close();
    cleanup();
  }
}

const { apply, raw } = applyVersusRaw();
process.stdout.write(`batch_apply_10k_ms: ${apply.toFixed(1)} ms\n`);
process.stdout.write(`raw_insert_10k_ms: ${raw.toFixed(1)} ms\n`);
process.stdout.write(`batch_apply_vs_raw_ratio: ${(apply / raw).toFixed(2)} x\n`);
process.stdout.write(`code_lookup_by_digest_per_s: ${Math.round(lookupsPerSecond())} lookups/s\n`);
