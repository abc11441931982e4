// Backend bridge benchmarks: `npm run bench backend` (or npx tsx scripts/bench/backend.bench.ts).
// Prints `name: value unit` lines:
//   locker_search_p99_ms   nearby search (2 km, random size) over 10,000 lockers / 200,000
//                          compartments in one metro area, through LockerService (direct,
//                          no HTTP), p99 of 2,000 queries. Target ≤ 5 ms.
//   reserve_per_s          successful checkout holds per second, DIRECT: 64 concurrent async
//                          clients calling the real ReservationService.reserveGrouped (the
//                          code behind POST /reservations: idempotency record, conditional
//                          claim, state log, SQLite WAL + synchronous=FULL, group commit),
//                          without HTTP. Target ≥ 5,000.
//   reserve_http_per_s     the same through HTTP: 64 concurrent keep-alive clients in a
//                          separate process against the listening fastify app (zod
//                          validation and serialisation included).
//   double_bookings        compartments held by more than one live reservation, or held
//                          without one, after all runs. Must be 0.
//   token_issue_per_s      pickup tokens with a fresh keypad code (CSPRNG, digest, uniqueness
//                          check, PASETO v4.public signature with node:crypto).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lockerInput, makeBackend } from '@locker/backend/testing/backend-fixture.js';
import { systemClock } from '@locker/backend/shared/clock.js';
import { sql } from '@locker/backend/store/sql/sql-text.js';
import type { LockerInput } from '@locker/backend/lockers/locker-schemas.js';
import { print } from './bench-kit.js';

const LOCKERS = 10_000;
const SIZES = { S: 6, M: 6, L: 5, XL: 3 } as const; // 20 compartments per locker → 200,000
// Berlin-sized metro area (~44 × 54 km): ~4 lockers per km², ~50 inside a 2 km circle.
const box = { lat: [52.3, 52.7], lng: [13.0, 13.8] } as const;
let seed = 42;
const rand = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
const between = (r: readonly [number, number]): number => r[0] + rand() * (r[1] - r[0]);

const dir = mkdtempSync(join(tmpdir(), 'backend-bench-'));
const f = await makeBackend({ dir, clock: systemClock, config: { rateLimit: { windowMs: 1000, max: 10_000_000 } } });
try {
  await f.store.transaction(async () => {
    for (let i = 0; i < LOCKERS; i++) {
      const input: LockerInput = lockerInput(`bench-${String(i)}`, between(box.lat), between(box.lng), SIZES);
      await f.services.lockers.register(input);
    }
  });

  // --- search ---
  const sizes = ['S', 'M', 'L', 'XL'] as const;
  const query = async (): Promise<void> => {
    await f.services.lockers.search({ lat: between(box.lat), lng: between(box.lng), radiusM: 2000, size: sizes[Math.floor(rand() * 4)], limit: 20 });
  };
  for (let i = 0; i < 200; i++) await query();
  const times: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await query();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  print('locker_search_p99_ms', Number((times[Math.floor(times.length * 0.99)] ?? 0).toFixed(2)), 'ms');
  print('locker_search_p50_ms', Number((times[Math.floor(times.length * 0.5)] ?? 0).toFixed(2)), 'ms');

  // --- reservations over HTTP: 64 concurrent keep-alive clients in a separate process ---
  const app = await f.app();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const CLIENTS = 64;
  const PER_CLIENT = 250;
  const loadClient = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'backend-sync', 'testing', 'http-load-client.ts');
  const run = (tag: string, perClient: number): Promise<{ ok: number; full: number; other: number; ms: number }> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', loadClient, base, String(CLIENTS), String(perClient), String(LOCKERS), tag], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { ok: number; full: number; other: number; ms: number }) : reject(new Error(`load client exit ${String(code)}`))));
    });
  await run('warm', 20);
  const http = await run('http', PER_CLIENT);
  print('reserve_http_per_s', Math.round(http.ok / (http.ms / 1000)), 'ops/s');
  if (http.other > 0) print('reserve_http_errors', http.other, 'count');

  // --- reservations direct: 64 concurrent async clients on the group-committed service ---
  let okDirect = 0;
  const direct = async (c: number): Promise<void> => {
    for (let i = 0; i < PER_CLIENT; i++) {
      try {
        await f.services.reservations.reserveGrouped(`direct-${String(c)}-${String(i)}`, { orderRef: `d-${String(c)}-${String(i)}`, lockerId: `bench-${String(Math.floor(rand() * LOCKERS))}`, size: 'L' });
        okDirect++;
      } catch {
        // no capacity at that locker: not counted
      }
    }
  };
  const t1 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => direct(c)));
  print('reserve_per_s', Math.round(okDirect / ((performance.now() - t1) / 1000)), 'ops/s');

  const dup = await f.store.x.one<{ n: number }>(
    sql(
      `SELECT (SELECT count(*) FROM (SELECT locker_id, compartment_id FROM reservations WHERE status IN ('held', 'confirmed', 'consumed')
                                      GROUP BY locker_id, compartment_id HAVING count(*) > 1))
            + (SELECT count(*) FROM compartments c WHERE c.state = 'held'
                 AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = c.reservation_id AND r.status = 'held')) AS n`,
    ),
  );
  print('double_bookings', dup?.n ?? -1, 'count');

  // --- token issuance ---
  const pepper = (await f.store.lockers.pepper('bench-1'))!;
  const issue = async (): Promise<void> => {
    await f.services.tokens.codeToken('pickup', 'bench-1', pepper, { compartmentId: 'M1', parcelId: 'PARCEL-1', size: 'M' }, (d) => f.store.codeSets.liveDigestExists('bench-1', d));
  };
  for (let i = 0; i < 500; i++) await issue();
  let n = 0;
  const t2 = performance.now();
  while (performance.now() - t2 < 2000) {
    for (let i = 0; i < 50; i++) await issue();
    n += 50;
  }
  print('token_issue_per_s', Math.round(n / ((performance.now() - t2) / 1000)), 'ops/s');
  void lockerInput;
} finally {
  await f.close();
  rmSync(dir, { recursive: true, force: true });
}
