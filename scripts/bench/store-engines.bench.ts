// Our SqlExecutor layer against Kysely 0.28 on the checkout hold path, on both engines
// (issue 9: "decide, measure both"). `npm run bench store-engines`. The unit, inside one
// transaction: idempotency lookup (a miss), the conditional compartment claim (PostgreSQL:
// FOR UPDATE SKIP LOCKED), the reservation insert, a state-log row, the idempotency record.
// Every run gets a fresh database (production migrations, 2,000 lockers × 20 compartments).
// Prints `name: value unit`:
//   hold_unit_per_s_<engine>_<variant>_c<N>   units per second, N concurrent async callers
//                                             (c1: one after the other)
//   hold_unit_cpu_us_<engine>_<variant>_c<N>  this process's CPU (user + system) per unit
//   hold_unit_server_cpu_us_pg_<variant>_c<N> the PostgreSQL backends' CPU per unit
//   kysely_compile_us_per_query               build + compile of the claim (PostgreSQL)
//   kysely_compile_us_per_query_sqlite        the same for SQLite
//   kysely_compile_us_per_unit_<engine>       build + compile of all five statements
//   hold_unit_{per_s,cpu_us,server_cpu_us}_interleaved_<engine>_<variant>
//                                             c1, the variants taking turns on one
//                                             database (medians of rounds): the CPU
//                                             attribution, robust to the machine's load
// Variants: sqlexecutor (c64 on SQLite uses transactionGrouped: one commit per batch);
// sqlexecutor_ungrouped (SQLite c64, one commit per unit, like Kysely straight); kysely
// (its transaction API straight); kysely_grouped (SQLite c64: group commit added on top of
// Kysely's controlled transactions and savepoints, see kysely-hold.ts); kysely_stmtcache
// (Kysely handed cached prepared statements: its prepare-per-execution cost) and
// kysely_named (Kysely's statements sent named: its parse-and-plan-per-execution cost on
// the server) appear in the interleaved figures only.
// BENCH_SECONDS sets each measured window (default 3).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PgExecutor } from '@locker/backend/store/postgres/pg-executor.js';
import { SqliteExecutor } from '@locker/backend/store/sqlite/sqlite-executor.js';
import { pgConfigIn, PG_URL, probePg } from '@locker/backend/testing/pg-test-db.js';
import { opsPerSecond, print } from './bench-kit.js';
import { freshPg, freshSqlite } from './store-engines/bench-databases.js';
import { CAPACITY, holdInput, type HoldInput } from './store-engines/hold-schedule.js';
import { interleave, type Attribution } from './store-engines/interleaved.js';
import { KyselyHold, kyselyOverPg, kyselyOverPgNamingStatements, kyselyOverSqlite, kyselyOverSqliteCachingStatements } from './store-engines/kysely-hold.js';
import { backendPids, cpuMicros } from './store-engines/server-cpu.js';
import { SqlExecutorHold } from './store-engines/sqlexecutor-hold.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const ROUNDS = 6;
const WARM_UNITS = 500;
const POOL = 16;

type Variant = 'sqlexecutor' | 'sqlexecutor_ungrouped' | 'kysely' | 'kysely_grouped';
type Hold = (u: HoldInput) => Promise<void>;

interface Window {
  units: number;
  ms: number;
  cpuUs: number;
}

/** Runs holds i = from, from+1, … with `concurrency` callers until `to` or the deadline. */
async function drive(hold: Hold, run: string, concurrency: number, from: number, to: number, seconds: number): Promise<Window> {
  let next = from;
  const now = Date.now();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  const caller = async (): Promise<void> => {
    while (next < to && performance.now() < deadline) await hold(holdInput(run, next++, now));
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { units: next - from, ms, cpuUs: cpu.user + cpu.system };
}

interface Case {
  hold: Hold;
  /** Server CPU (µs) so far of the backends serving this case, when there is a server. */
  serverCpu?: () => Promise<() => number>;
  /** Reservations and held compartments now in the database. */
  counts(): Promise<{ reservations: number; held: number }>;
  close(): Promise<void>;
}

async function measure(engine: 'sqlite' | 'pg', variant: Variant, concurrency: number, c: Case): Promise<void> {
  const run = `${engine}-${variant}-${String(concurrency)}`;
  const name = `${engine}_${variant}_c${String(concurrency)}`;
  try {
    const warm = await drive(c.hold, run, concurrency, 0, WARM_UNITS, 60);
    globalThis.gc?.();
    const server = await c.serverCpu?.();
    const w = await drive(c.hold, run, concurrency, warm.units, CAPACITY, SECONDS);
    const serverUs = server?.();
    const counts = await c.counts();
    const total = warm.units + w.units;
    if (counts.reservations !== total || counts.held !== total) {
      throw new Error(`${name}: ${String(total)} holds made, but ${String(counts.reservations)} reservations and ${String(counts.held)} held compartments`);
    }
    print(`hold_unit_per_s_${name}`, Math.round(w.units / (w.ms / 1000)), 'ops/s');
    print(`hold_unit_cpu_us_${name}`, Math.round(w.cpuUs / w.units), 'us');
    if (serverUs !== undefined) print(`hold_unit_server_cpu_us_${name}`, Math.round(serverUs / w.units), 'us');
    if (total >= CAPACITY) process.stdout.write(`# ${name}: every compartment taken before the window ended (${String(w.units)} units in ${w.ms.toFixed(0)} ms)\n`);
  } finally {
    await c.close();
  }
}

function printInterleaved(engine: 'sqlite' | 'pg', figures: readonly Attribution[]): void {
  for (const a of figures) {
    const name = `interleaved_${engine}_${a.name}`;
    print(`hold_unit_per_s_${name}`, a.perS, 'ops/s');
    print(`hold_unit_cpu_us_${name}`, a.clientCpuUs, 'us');
    if (a.serverCpuUs !== undefined) print(`hold_unit_server_cpu_us_${name}`, a.serverCpuUs, 'us');
  }
}

// --- SQLite ---
const dir = mkdtempSync(join(tmpdir(), 'store-engines-bench-'));
try {
  const sqliteCase = (variant: Variant, concurrency: number): Case => {
    const f = freshSqlite(dir, `${variant}-${String(concurrency)}`);
    const countsStmt = f.db.prepare<[], { reservations: number; held: number }>(
      `SELECT (SELECT count(*) FROM reservations) AS reservations, (SELECT count(*) FROM compartments WHERE state = 'held') AS held`,
    );
    const counts = (): Promise<{ reservations: number; held: number }> => Promise.resolve(countsStmt.get() as { reservations: number; held: number });
    if (variant === 'sqlexecutor' || variant === 'sqlexecutor_ungrouped') {
      const h = new SqlExecutorHold(new SqliteExecutor(f.db));
      const grouped = variant === 'sqlexecutor' && concurrency > 1;
      return { hold: (u) => (grouped ? h.holdGrouped(u) : h.hold(u)), counts, close: async () => (await h.close(), f.dispose()) };
    }
    const h = new KyselyHold(kyselyOverSqlite(f.db), 'sqlite');
    return { hold: (u) => (variant === 'kysely_grouped' ? h.holdGrouped(u) : h.hold(u)), counts, close: async () => (await h.close(), f.dispose()) };
  };
  for (const [variant, concurrency] of [
    ['sqlexecutor', 1],
    ['kysely', 1],
    ['sqlexecutor', 64],
    ['kysely', 64],
    ['sqlexecutor_ungrouped', 64],
    ['kysely_grouped', 64],
  ] as const) {
    await measure('sqlite', variant, concurrency, sqliteCase(variant, concurrency));
  }

  // Three front ends on one connection, strictly one after the other (never overlapping).
  const f = freshSqlite(dir, 'interleaved');
  try {
    const ours = new SqlExecutorHold(new SqliteExecutor(f.db));
    const kysely = new KyselyHold(kyselyOverSqlite(f.db), 'sqlite');
    const cached = new KyselyHold(kyselyOverSqliteCachingStatements(f.db), 'sqlite');
    printInterleaved(
      'sqlite',
      await interleave(
        [
          { name: 'sqlexecutor', hold: (u) => ours.hold(u) },
          { name: 'kysely', hold: (u) => kysely.hold(u) },
          { name: 'kysely_stmtcache', hold: (u) => cached.hold(u) },
        ],
        ROUNDS,
        1_000,
      ),
    );
  } finally {
    f.dispose();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// --- PostgreSQL ---
const probe = await probePg();
if (!probe.available) {
  if (process.env['CI'] === 'true') throw new Error(`store-engines bench: ${probe.reason}`);
  process.stdout.write(`# skip PostgreSQL figures: ${probe.reason}\n`);
} else {
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  try {
    const pgCase = async (variant: Variant): Promise<Case> => {
      const f = await freshPg();
      const app = `bench-${f.schema}`;
      const counts = async (): Promise<{ reservations: number; held: number }> => {
        const r = await admin.query<{ reservations: string; held: string }>(
          `SELECT (SELECT count(*) FROM ${f.schema}.reservations) AS reservations, (SELECT count(*) FROM ${f.schema}.compartments WHERE state = 'held') AS held`,
        );
        const row = r.rows[0]!;
        return { reservations: Number(row.reservations), held: Number(row.held) };
      };
      const serverCpu = async (): Promise<() => number> => {
        const pids = await backendPids(admin, app);
        const before = cpuMicros(pids);
        return () => cpuMicros(pids) - before;
      };
      if (variant === 'sqlexecutor') {
        // PostgreSQL groups WAL flushes itself: transactionGrouped is a plain transaction.
        const h = new SqlExecutorHold(new PgExecutor({ url: PG_URL, schema: f.schema, poolSize: POOL, applicationName: app }));
        return { hold: (u) => h.holdGrouped(u), serverCpu, counts, close: async () => (await h.close(), await f.dispose()) };
      }
      const pool = new pg.Pool({ ...pgConfigIn(f.schema), max: POOL, application_name: app });
      pool.on('error', () => undefined);
      const h = new KyselyHold(kyselyOverPg(pool), 'postgres');
      return { hold: (u) => h.hold(u), serverCpu, counts, close: async () => (await h.close(), await f.dispose()) };
    };
    for (const [variant, concurrency] of [
      ['sqlexecutor', 1],
      ['kysely', 1],
      ['sqlexecutor', 64],
      ['kysely', 64],
    ] as const) {
      await measure('pg', variant, concurrency, await pgCase(variant));
    }

    const f = await freshPg();
    const pools: pg.Pool[] = [];
    const pool = (app: string): pg.Pool => {
      const p = new pg.Pool({ ...pgConfigIn(f.schema), max: 1, application_name: app });
      pools.push(p);
      return p;
    };
    const ours = new SqlExecutorHold(new PgExecutor({ url: PG_URL, schema: f.schema, poolSize: 1, applicationName: `${f.schema}-ours` }));
    const kysely = new KyselyHold(kyselyOverPg(pool(`${f.schema}-kysely`)), 'postgres');
    const named = new KyselyHold(kyselyOverPgNamingStatements(pool(`${f.schema}-named`)), 'postgres');
    try {
      printInterleaved(
        'pg',
        await interleave(
          [
            { name: 'sqlexecutor', hold: (u) => ours.holdGrouped(u), serverPids: () => backendPids(admin, `${f.schema}-ours`) },
            { name: 'kysely', hold: (u) => kysely.hold(u), serverPids: () => backendPids(admin, `${f.schema}-kysely`) },
            { name: 'kysely_named', hold: (u) => named.hold(u), serverPids: () => backendPids(admin, `${f.schema}-named`) },
          ],
          ROUNDS,
          400,
        ),
      );
    } finally {
      await ours.close();
      for (const p of pools) if (!p.ended) await p.end();
      await f.dispose();
    }
  } finally {
    await admin.end();
  }
}

// --- Kysely's query building alone (no I/O) ---
{
  const u = holdInput('compile', 12_345, Date.now());
  const unused = new pg.Pool({ connectionString: PG_URL, max: 1 }); // never connects: compile needs no driver
  const onPg = new KyselyHold(kyselyOverPg(unused), 'postgres');
  const compileDir = mkdtempSync(join(tmpdir(), 'store-engines-compile-'));
  const f = freshSqlite(compileDir, 'compile');
  const onSqlite = new KyselyHold(kyselyOverSqlite(f.db), 'sqlite');
  try {
    print('kysely_compile_us_per_query', Number((1e6 / opsPerSecond(() => onPg.compileClaim(u), 1)).toFixed(2)), 'us');
    print('kysely_compile_us_per_query_sqlite', Number((1e6 / opsPerSecond(() => onSqlite.compileClaim(u), 1)).toFixed(2)), 'us');
    print('kysely_compile_us_per_unit_pg', Number((1e6 / opsPerSecond(() => onPg.compileUnit(u), 1)).toFixed(2)), 'us');
    print('kysely_compile_us_per_unit_sqlite', Number((1e6 / opsPerSecond(() => onSqlite.compileUnit(u), 1)).toFixed(2)), 'us');
  } finally {
    await onPg.close();
    if (!unused.ended) await unused.end();
    await onSqlite.close();
    f.dispose();
    rmSync(compileDir, { recursive: true, force: true });
  }
}
