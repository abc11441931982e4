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
});
