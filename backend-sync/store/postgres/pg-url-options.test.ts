import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/config.js';
import { isBackendError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { dropSchema, freshSchemaName, PG_URL, pgSuitesRun, testApplicationName } from '../../testing/pg-test-db.js';
import { openStore } from '../open-store.js';
import { sql } from '../sql/sql-text.js';
import { PgExecutor } from './pg-executor.js';

// An operator's db.url may carry its own `?options=-c statement_timeout=…`. node-postgres
// lets the URL's options replace the `options` the backend passes beside them, whole: the
// sessions lost their search_path (tables read and written in public) and their
// idle_in_transaction_session_timeout (an idle transaction's row locks held for hours),
// without a word. Both must hold on every pooled session, the operator's settings too; a
// URL that sets one of ours is refused at start.

const runs = await pgSuitesRun('db.url options on PostgreSQL');
const schemas: string[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const s of schemas.splice(0)) await dropSchema(s);
});

/** PG_URL with `options` added to its query (encoded as an operator would write it). */
function withOptions(options: string, url = PG_URL): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(options)}`;
}

interface Session {
  search_path: string;
  idle: string;
  statement_timeout: string;
  tenant: string;
  pid: number;
}
const SHOW = sql(
  "SELECT current_setting('search_path') AS search_path, current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('statement_timeout') AS statement_timeout, current_setting('locker.tenant', true) AS tenant, pg_backend_pid() AS pid",
);

/** The settings of `n` distinct pooled sessions, each held in its own open transaction meanwhile. */
async function sessions(x: PgExecutor, n: number): Promise<Session[]> {
  const seen: Session[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const all = Array.from({ length: n }, () =>
    x.transaction(async () => {
      seen.push((await x.one<Session>(SHOW)) as Session);
      if (seen.length === n) release();
      await held;
    }),
  );
  await Promise.all(all);
  return seen;
}

describe.skipIf(!runs)('db.url options on PostgreSQL', () => {
  it("keeps the backend's search_path and idle bound on every pooled session, and the operator's own settings too", async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const url = withOptions('-c statement_timeout=4321 -c locker.tenant=north\\ east');
    const config = parseConfig({ mqtt: { enabled: false }, db: { url, schema, poolSize: 3, idleInTransactionTimeoutMs: 7_000, applicationName: testApplicationName(schema) } });
    const store = await openStore(config.db, silentLogger());
    closers.push(() => store.close());
    const seen = await sessions(store.x as PgExecutor, 3);
    expect(new Set(seen.map((s) => s.pid)).size).toBe(3);
    for (const s of seen) expect(s).toMatchObject({ search_path: schema, idle: '7s', statement_timeout: '4321ms', tenant: 'north east' });
    // The migration, on a session of the same pool, created the tables in the schema, not in public.
    const where = await store.x.one<{ schema: string }>(sql("SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'reservations' AND n.nspname = current_schema()"));
    expect(where).toEqual({ schema });
  });

  it('keeps what PostgreSQL reads in the options: a no-break space and an escaped trailing space within a value', async () => {
    // Both connected before the change; refusing them would keep the backend from starting.
    const x = new PgExecutor({ url: withOptions('-c locker.tenant=north\u00a0east\\ '), idleInTransactionTimeoutMs: 8_000, poolSize: 1 });
    closers.push(() => x.close());
    expect(await x.one<Session>(SHOW)).toMatchObject({ tenant: 'north\u00a0east ', idle: '8s' });
  });

  it('keeps the settings on the health probe connection too, and without a schema the idle bound', async () => {
    const x = new PgExecutor({ url: withOptions('--statement-timeout=2500'), idleInTransactionTimeoutMs: 9_000, poolSize: 1 });
    closers.push(() => x.close());
    await x.ping();
    const s = (await x.one<Session>(SHOW)) as Session;
    expect(s).toMatchObject({ idle: '9s', statement_timeout: '2500ms' });
  });

  it('reaches PostgreSQL with the password, user and other query parameters of the URL intact', async () => {
    // Trust auth ignores the password, so what node-postgres will send is read from its parameters.
    const password = 'p@ss:w/rd %?&=#+\u00e9';
    const u = new URL(PG_URL);
    const url = withOptions('-c statement_timeout=1234', `${u.protocol}//${encodeURIComponent(decodeURIComponent(u.username))}:${encodeURIComponent(password)}@${u.host}${u.pathname}?application_name=ignored%20name&sslmode=disable`);
    const x = new PgExecutor({ url, idleInTransactionTimeoutMs: 5_000, poolSize: 1, applicationName: 'pw-roundtrip' });
    closers.push(() => x.close());
    const client = await x.pool.connect();
    try {
      const params = (client as unknown as { connectionParameters: { password: string; user: string; database: string } }).connectionParameters;
      expect(params.password).toBe(password);
      expect(params.user).toBe(decodeURIComponent(u.username));
      const r = await client.query<{ u: string; d: string; st: string; idle: string }>("SELECT current_user AS u, current_database() AS d, current_setting('statement_timeout') AS st, current_setting('idle_in_transaction_session_timeout') AS idle");
      expect(r.rows[0]).toEqual({ u: decodeURIComponent(u.username), d: decodeURIComponent(u.pathname.slice(1)), st: '1234ms', idle: '5s' });
    } finally {
      client.release();
    }
  });

  it.each([
    ['-c search_path=public', 'search_path'],
    ['-c statement_timeout=1000 -csearch_path=public', 'search_path'],
    ['--search-path=public', 'search_path'],
    ['-c IDLE_IN_TRANSACTION_SESSION_TIMEOUT=0', 'idle_in_transaction_session_timeout'],
    ['--idle-in-transaction-session-timeout=0', 'idle_in_transaction_session_timeout'],
  ])('refuses at start a db.url whose options set %s, naming db.url and the setting', (options, setting) => {
    const url = withOptions(options);
    let err: unknown;
    try {
      parseConfig({ mqtt: { enabled: false }, db: { url } });
    } catch (e) {
      err = e;
    }
    expect(isBackendError(err, 'CONFIG_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`db\\.url: .*${setting}`));
    // Also a caller that builds the executor without the config (a script, a test helper).
    expect(() => new PgExecutor({ url, schema: 'public' })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(setting) as unknown }));
  });

  it('refuses options that are not plain settings: ours, appended after them, could be swallowed', () => {
    for (const options of ['-c', '-d 5', 'statement_timeout=1', '-c statement_timeout=1 \\']) {
      expect(() => parseConfig({ mqtt: { enabled: false }, db: { url: withOptions(options) } }), options).toThrow(/db\.url: its options/);
    }
  });

  it("test helpers' raw clients keep their schema under a LOCKER_PG_URL with options", async () => {
    const { pgConfigIn } = await import('../../testing/pg-test-db.js');
    const schema = freshSchemaName();
    const client = new pg.Client(pgConfigIn(schema, withOptions('-c statement_timeout=3333')));
    await client.connect();
    try {
      const r = await client.query<{ sp: string; st: string }>("SELECT current_setting('search_path') AS sp, current_setting('statement_timeout') AS st");
      expect(r.rows[0]).toEqual({ sp: schema, st: '3333ms' });
    } finally {
      await client.end();
    }
  });
});
