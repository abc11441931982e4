import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pgSessionConfig } from '../store/postgres/pg-session-options.js';

// PostgreSQL for tests: the machine's server (LOCKER_PG_URL, default the trust-auth
// service on 127.0.0.1:5432, database `test`), one fresh schema per store, dropped after.
// Outside CI a missing server skips the PostgreSQL suites with a logged reason;
// under CI (any non-empty CI, as .ci/run sets) it fails them: CI never goes green without them.

export const PG_URL = process.env['LOCKER_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A raw client's settings for working in `schema` on `url` (default PG_URL): its search_path
 * merged with the URL's own `?options=` (which node-postgres would otherwise let replace
 * an `options: '-c search_path=…'` given beside it, and the test would write into public).
 */
export function pgConfigIn(schema: string, url = PG_URL): { connectionString: string; options: string } {
  return pgSessionConfig(url, { search_path: schema }, 'LOCKER_PG_URL');
}

export type PgProbe = { available: true } | { available: false; reason: string };

let probed: Promise<PgProbe> | undefined;

export function probePg(): Promise<PgProbe> {
  probed ??= (async (): Promise<PgProbe> => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { available: true };
    } catch (err) {
      return { available: false, reason: `PostgreSQL not reachable at ${PG_URL}: ${err instanceof Error ? err.message : String(err)}` };
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return probed;
}

/**
 * Whether the PostgreSQL suites run here: true when the server answers; false (after
 * logging why) when it does not and this is not CI; throws under CI.
 */
export async function pgSuitesRun(suite: string): Promise<boolean> {
  const p = await probePg();
  if (p.available) return true;
  if (process.env['CI'] !== undefined && process.env['CI'] !== '') throw new Error(`${suite}: ${p.reason} (CI requires PostgreSQL; .ci/run installs it)`);
  process.stderr.write(`[skip] ${suite}: ${p.reason}\n`);
  return false;
}

export function freshSchemaName(): string {
  return `t_${randomBytes(6).toString('hex')}`;
}

export async function dropSchema(schema: string, url = PG_URL): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await client.end();
  }
}

/** The application_name a test store's connections carry: names its schema, so a test finds its own sessions among other files'. */
export function testApplicationName(schema: string): string {
  return `locker-test ${schema}`;
}

/**
 * Until a session of `schema`'s test stores waits on a lock while running a statement that
 * matches `queryLike` (a racing request reached the row another holds). Only this schema's
 * sessions count: other test files run beside this one on the same server.
 */
export async function waitForLockWait(schema: string, queryLike = '%'): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    for (let i = 0; i < 400; i++) {
      const r = await c.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = $1 AND query ILIKE $2`,
        [testApplicationName(schema), queryLike],
      );
      if ((r.rows[0]?.n ?? 0) > 0) return;
      await new Promise((res) => setTimeout(res, 25));
    }
    throw new Error(`no session of ${schema} waited on a lock in ${queryLike}`);
  } finally {
    await c.end();
  }
}

export type EngineName = 'sqlite' | 'postgres';

/** The engines a contract suite runs on here: always SQLite, PostgreSQL when it runs. */
export async function testEngines(suite: string): Promise<EngineName[]> {
  return (await pgSuitesRun(suite)) ? ['sqlite', 'postgres'] : ['sqlite'];
}

