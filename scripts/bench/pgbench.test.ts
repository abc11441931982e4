import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { PG_URL, pgSuitesRun } from '@locker/backend/testing/pg-test-db.js';
import { parseTps, PgbenchError, pgbenchSimpleUpdateTps } from './pgbench.js';

// The anchor figure must come from a real pgbench run and must leave nothing behind on the
// shared server, including when pgbench cannot run.

const report = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: <builtin: simple update>
number of transactions actually processed: 460
latency average = 4.331 ms
initial connection time = 11.400 ms
tps = 461.793606 (without initial connection time)
`;

async function schemaExists(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

async function tableInPublic(name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return (await c.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = $1", [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

const fresh = (): string => `locker_pgbench_t${randomBytes(4).toString('hex')}`;

describe('pgbench anchor', () => {
  it('reads the tps figure of a pgbench report', () => {
    expect(parseTps(report)).toBeCloseTo(461.793606, 6);
  });

  it('refuses a report without a tps line rather than reporting 0', () => {
    expect(() => parseTps('pgbench: error: connection refused\n')).toThrow(PgbenchError);
  });

  it('measures simple-update in a fresh schema and drops it afterwards', async () => {
    if (!(await pgSuitesRun('pgbench anchor'))) return;
    const schema = fresh();
    const tps = await pgbenchSimpleUpdateTps({ clients: 2, threads: 1, seconds: 1, schema });
    expect(tps).toBeGreaterThan(0);
    expect(await schemaExists(schema)).toBe(false);
    // pgbench's tables went into the schema, not the database's public schema.
    expect(await tableInPublic('pgbench_accounts')).toBe(false);
  });

  it('says pgbench is missing, and still drops its database', async () => {
    if (!(await pgSuitesRun('pgbench anchor'))) return;
    const schema = fresh();
    const err: unknown = await pgbenchSimpleUpdateTps({ schema, binary: '/nonexistent/pgbench' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgbenchError);
    expect((err as PgbenchError).code).toBe('PGBENCH_MISSING');
    expect(await schemaExists(schema)).toBe(false);
  });

  it("gives pgbench's sessions the URL's own options beside its schema (they are not in its arguments)", async () => {
    if (!(await pgSuitesRun('pgbench anchor'))) return;
    const schema = fresh();
    // A setting pg_stat_activity shows from outside: a session not tracking its activity is 'disabled'.
    const url = `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c track_activities=off')}`;
    const watcher = new pg.Client({ connectionString: PG_URL });
    await watcher.connect();
    try {
      let most = 0;
      let done = false;
      const run = pgbenchSimpleUpdateTps({ url, schema, clients: 2, threads: 1, seconds: 2 }).finally(() => (done = true));
      while (!done) {
        const r = await watcher.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgbench' AND state = 'disabled'");
        most = Math.max(most, r.rows[0]?.n ?? 0);
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(await run).toBeGreaterThan(0);
      expect(most).toBeGreaterThanOrEqual(1);
      expect(await tableInPublic('pgbench_accounts')).toBe(false);
      expect(await schemaExists(schema)).toBe(false);
    } finally {
      await watcher.end();
    }
  });
});
