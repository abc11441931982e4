// PostgreSQL's own write rate on this machine, the physical anchor for every backend write
// figure on PostgreSQL (issue 9: reserve_http_per_s_pg is judged against it, measured in
// the same run). `pgbench -b simple-update` (3 UPDATEs of pgbench rows + 1 INSERT per
// transaction, one commit each), 16 clients, 2 threads, 10 s, on fresh `pgbench -i -s 1`
// tables in a schema of their own, dropped afterwards (a schema, not a database: CREATE and
// DROP DATABASE each force a checkpoint of the whole server, which took over 30 s while the
// test suite's other PostgreSQL files ran, and slowed them all meanwhile). Run directly (or through `npm run bench pgbench`)
// it prints `pgbench_simple_update_tps: N tps`; other benches import the function.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { pgConfigIn, PG_URL, probePg } from '@locker/backend/testing/pg-test-db.js';
import { print } from './bench-kit.js';

const run = promisify(execFile);

export type PgbenchErrorCode = 'PGBENCH_MISSING' | 'PGBENCH_FAILED' | 'PGBENCH_NO_TPS';

export class PgbenchError extends Error {
  override readonly name = 'PgbenchError';
  constructor(
    readonly code: PgbenchErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface PgbenchOptions {
  clients?: number;
  threads?: number;
  seconds?: number;
  scale?: number;
  /** Server and database to measure in. */
  url?: string;
  /** The schema to create, hold pgbench's tables and drop (default: a fresh random name). */
  schema?: string;
  /** The pgbench executable (default: `pgbench` on PATH). */
  binary?: string;
}

/** The `tps = N` figure of a pgbench report. */
export function parseTps(report: string): number {
  const m = /^tps = (\d+(?:\.\d+)?)/m.exec(report);
  if (m === null) throw new PgbenchError('PGBENCH_NO_TPS', `pgbench printed no "tps = N" line:\n${report}`);
  return Number(m[1]);
}

/** Creates a schema, runs pgbench's simple-update script in it, drops it; resolves to tps. */
export async function pgbenchSimpleUpdateTps(o: PgbenchOptions = {}): Promise<number> {
  const url = new URL(o.url ?? PG_URL);
  const schema = o.schema ?? `locker_pgbench_${randomBytes(6).toString('hex')}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new PgbenchError('PGBENCH_FAILED', `not a plain schema name: ${schema}`);
  const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
  const connection = ['-h', url.hostname, '-p', url.port === '' ? '5432' : url.port, '-U', decodeURIComponent(url.username || 'postgres')];
  // libpq reads PGOPTIONS: every pgbench session (the -i setup and each client) finds and
  // creates its unqualified pgbench_* tables in the schema. pgbench is given host, port and
  // user, not the URL, so the URL's own ?options= are merged in here or they would be lost.
  const { options } = pgConfigIn(schema, url.href);
  const env = { ...process.env, PGOPTIONS: options, ...(url.password === '' ? {} : { PGPASSWORD: decodeURIComponent(url.password) }) };
  const pgbench = async (args: string[]): Promise<string> => {
    try {
      return (await run(o.binary ?? 'pgbench', [...connection, ...args, database], { env, maxBuffer: 16 * 1024 * 1024 })).stdout;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new PgbenchError('PGBENCH_MISSING', 'pgbench is not installed or not on PATH (Debian: apt-get install postgresql-client)');
      }
      const stderr = (err as { stderr?: unknown }).stderr;
      throw new PgbenchError('PGBENCH_FAILED', `pgbench ${args.join(' ')} failed: ${typeof stderr === 'string' ? stderr.trim() : String(err)}`);
    }
  };

  const admin = new pg.Client({ connectionString: url.href });
  await admin.connect();
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
    try {
      await pgbench(['-i', '-q', '-s', String(o.scale ?? 1)]);
      const report = await pgbench(['-b', 'simple-update', '-c', String(o.clients ?? 16), '-j', String(o.threads ?? 2), '-T', String(o.seconds ?? 10), '-n']);
      return parseTps(report);
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
  } finally {
    await admin.end();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const probe = await probePg();
  if (!probe.available && process.env['CI'] !== 'true') {
    process.stdout.write(`# skip pgbench_simple_update_tps: ${probe.reason}\n`);
  } else {
    try {
      print('pgbench_simple_update_tps', Math.round(await pgbenchSimpleUpdateTps()), 'tps');
    } catch (err) {
      process.stderr.write(`pgbench_simple_update_tps: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  }
}
