// The backend on PostgreSQL (issue 9): `npm run bench backend-pg`. One fresh schema on the
// test server (LOCKER_PG_URL), dropped at the end. Prints `name: value unit` lines:
//   locker_search_p99_ms_pg      nearby search (2 km, random size) over 10,000 lockers /
//                                200,000 compartments in one metro area, through
//                                LockerService (direct, no HTTP), p99 of 2,000 queries after
//                                200 warm-up: the SQLite figure's parameters. Target ≤ 5 ms.
//   pgbench_simple_update_tps    PostgreSQL's own `pgbench -b simple-update`, 16 clients,
//                                measured here, just before the HTTP load, on the same server.
//   reserve_http_per_s_pg        successful HTTP holds (POST /reservations, Idempotency-Key,
//                                bearer key) per second: 2 backend instances (separate
//                                processes, the real composition root, MQTT off) on the one
//                                schema, 64 keep-alive clients in a separate process split
//                                over both.
//   reserve_http_pg_vs_pgbench   the ratio of the two. Target ≥ 0.3.
//   reserve_http_cpu_us_pg_{instances,server,load_client}
//                                CPU (user + system, from /proc) per hold attempt of the
//                                two instances, of their PostgreSQL backends, and of the
//                                load process: where a hold's cost goes on 2 shared cores.
//   double_bookings_pg           after the HTTP run: compartments held by more than one live
//                                reservation, or held without one. Must be 0.
// Outside CI an unreachable server prints a `# skip` line instead; under CI it fails.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { apiKeyDigest } from '@locker/backend/auth/api-key-auth.js';
import { systemClock } from '@locker/backend/shared/clock.js';
import { sql } from '@locker/backend/store/sql/sql-text.js';
import { makeBackend } from '@locker/backend/testing/backend-fixture.js';
import { dropSchema, freshSchemaName, pgConfigIn, PG_URL, probePg } from '@locker/backend/testing/pg-test-db.js';
import { BackendProcess } from '@locker/sync-testing/multi-instance/backend-process.js';
import { print } from './bench-kit.js';
import { cpuMicros } from './store-engines/server-cpu.js';
import { runHoldLoad, type LoadResult } from './backend/hold-load.js';
import { LOCKERS, MetroArea, searchLatency } from './backend/metro-lockers.js';
import { PgbenchError, pgbenchSimpleUpdateTps } from './pgbench.js';

const INSTANCES = 2;
const CLIENTS = 64;
const PER_CLIENT = Number(process.env['BENCH_PER_CLIENT'] ?? 200);
/** PostgreSQL connections per instance: 2 × 8 = pgbench's 16 clients. */
const POOL = Number(process.env['BENCH_PG_POOL'] ?? 8);
/** Lockers registered per transaction while seeding (one connection, few commits). */
const SEED_BATCH = 500;
// What autovacuum does soon after a bulk load (PostgreSQL ≥ 13 vacuums insert-only tables
// too): statistics for the planner and a visibility map for index-only scans. The search is
// measured as a running deployment has it, not on guesses about empty tables. These two
// tables only, found through the schema's search_path: the server is shared.
const vacuum = sql('VACUUM (ANALYZE) lockers, compartments');

const audit = `SELECT
  (SELECT count(*) FROM (SELECT locker_id, compartment_id FROM reservations WHERE status IN ('held', 'confirmed', 'consumed')
                          GROUP BY locker_id, compartment_id HAVING count(*) > 1) d) AS dup,
  (SELECT count(*) FROM compartments c WHERE c.state = 'held'
     AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = c.reservation_id AND r.status = 'held')) AS orphan,
  (SELECT count(*) FROM reservations WHERE status = 'held') AS reservations,
  (SELECT count(*) FROM compartments WHERE state = 'held') AS held`;

/** pgbench's figure, printed; undefined (with a `# skip` line) where pgbench is not installed, outside CI. */
async function anchorTps(): Promise<number | undefined> {
  try {
    const tps = await pgbenchSimpleUpdateTps({ clients: 16 });
    print('pgbench_simple_update_tps', Math.round(tps), 'tps');
    return tps;
  } catch (err) {
    if (!(err instanceof PgbenchError) || err.code !== 'PGBENCH_MISSING' || (process.env['CI'] ?? '') !== '') throw err;
    process.stdout.write(`# skip pgbench_simple_update_tps and reserve_http_pg_vs_pgbench: ${err.message}\n`);
    return undefined;
  }
}

const probe = await probePg();
if (!probe.available) {
  if ((process.env['CI'] ?? '') !== '') throw new Error(`backend-pg bench: ${probe.reason}`);
  process.stdout.write(`# skip backend-pg figures: ${probe.reason}\n`);
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'backend-pg-bench-'));
const schema = freshSchemaName();
const backends: BackendProcess[] = [];
const admin = new pg.Client({ ...pgConfigIn(schema), application_name: 'backend-pg-bench' });
try {
  const metro = new MetroArea();
  // --- seed and search, in this process, through the services ---
  const f = await makeBackend({ dir, engine: 'postgres', pgSchema: schema, clock: systemClock });
  try {
    const t0 = performance.now();
    for (let from = 0; from < LOCKERS; from += SEED_BATCH) {
      await f.store.transaction(async () => {
        for (let i = from; i < Math.min(LOCKERS, from + SEED_BATCH); i++) await f.services.lockers.register(metro.locker(i));
      });
    }
    process.stdout.write(`# seeded ${String(LOCKERS)} lockers in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    await f.store.x.run(vacuum);
    const search = await searchLatency(metro, (q) => f.services.lockers.search(q));
    print('locker_search_p99_ms_pg', search.p99, 'ms');
    print('locker_search_p50_ms_pg', search.p50, 'ms');
  } finally {
    await f.close();
  }

  // --- two instances as separate processes on the one schema ---
  const apiKey = `lk_${randomBytes(24).toString('base64url')}`;
  const common = { dir, pgUrl: PG_URL, schema, keysDir: join(dir, 'keys'), apiKeySha256: apiKeyDigest(apiKey), mqtt: { enabled: false as const }, poolSize: POOL };
  for (let i = 0; i < INSTANCES; i++) backends.push(await BackendProcess.start({ ...common, name: `pg-${String(i)}` }));
  const bases = backends.map((b) => b.url);
  const load = (tag: string, perClient: number): Promise<LoadResult> => runHoldLoad({ bases, clients: CLIENTS, perClient, lockers: LOCKERS, tag, apiKey });

  // The anchor, measured now (the instances idle), so both figures see the same machine.
  const tps = await anchorTps();

  // Warm-up right before the window: JIT, prepared statements, and every pooled
  // connection open, so the PostgreSQL backends read below are the ones that serve it.
  const warm = await load('warm', 20);
  await admin.connect();
  const pgPids = (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1)', [backends.map((b) => BackendProcess.applicationName(b.name, schema))])).rows.map((r) => r.pid);
  const nodePids = backends.map((b) => b.pid).filter((pid) => pid !== undefined);
  const nodeCpu0 = cpuMicros(nodePids);
  const pgCpu0 = cpuMicros(pgPids);
  const http = await load('http', PER_CLIENT);
  const nodeCpu = cpuMicros(nodePids) - nodeCpu0;
  const pgCpu = cpuMicros(pgPids) - pgCpu0;
  const perS = http.ok / (http.ms / 1000);
  print('reserve_http_per_s_pg', Math.round(perS), 'ops/s');
  if (tps !== undefined) print('reserve_http_pg_vs_pgbench', Number((perS / tps).toFixed(3)), 'x');
  // Where a hold's CPU goes on the 2 shared cores: the instances (fastify, zod, pg client,
  // socket writes), their PostgreSQL backends, and the load process itself.
  const attempts = http.ok + http.full + http.other;
  print('reserve_http_cpu_us_pg_instances', Math.round(nodeCpu / attempts), 'us');
  print('reserve_http_cpu_us_pg_server', Math.round(pgCpu / attempts), 'us');
  print('reserve_http_cpu_us_pg_load_client', Math.round(http.cpuUs / attempts), 'us');
  if (http.full > 0) print('reserve_http_no_capacity_pg', http.full, 'count');
  if (http.other + warm.other > 0) {
    print('reserve_http_errors_pg', http.other + warm.other, 'count');
    process.stdout.write(`# statuses: ${JSON.stringify({ warm: warm.statuses, http: http.statuses })}\n`);
  }

  // --- audit: every answered hold is one live reservation on one held compartment ---
  const row = (await admin.query<{ dup: string; orphan: string; reservations: string; held: string }>(audit)).rows[0];
  if (row === undefined) throw new Error('double-booking audit returned no row');
  print('double_bookings_pg', Number(row.dup) + Number(row.orphan), 'count');
  const answered = warm.ok + http.ok;
  if (Number(row.reservations) !== answered || Number(row.held) !== answered) {
    process.stdout.write(`# mismatch: ${String(answered)} holds answered 201, ${row.reservations} live reservations, ${row.held} held compartments\n`);
    process.exitCode = 1;
  }
} finally {
  await Promise.all(backends.map((b) => b.stop()));
  await admin.end().catch(() => undefined);
  await dropSchema(schema);
  rmSync(dir, { recursive: true, force: true });
}

