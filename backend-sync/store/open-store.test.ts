import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/config.js';
import { silentLogger } from '../shared/logger.js';
import { dropSchema, freshSchemaName, PG_URL, pgSuitesRun } from '../testing/pg-test-db.js';
import { openStore } from './open-store.js';
import { sql } from './sql/sql-text.js';

// Several instances share one server: the connections of each must be attributable (which
// instance holds a lock, whose backends burn the CPU), so db.applicationName reaches
// PostgreSQL as the connections' application_name.

const runs = await pgSuitesRun('openStore on PostgreSQL');
const schemas: string[] = [];
afterEach(async () => {
  for (const s of schemas.splice(0)) await dropSchema(s);
});

async function applicationNames(schema: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    // Our own connections are told apart from the rest of the shared server by the schema they work in.
    const r = await client.query<{ application_name: string }>(`SELECT DISTINCT application_name FROM pg_stat_activity WHERE application_name LIKE $1`, [`%${schema}%`]);
    return r.rows.map((row) => row.application_name);
  } finally {
    await client.end();
  }
}

describe.skipIf(!runs)('openStore on PostgreSQL', () => {
  it('names its connections with db.applicationName, so instances can be told apart in pg_stat_activity', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const config = parseConfig({ mqtt: { enabled: false }, db: { url: PG_URL, schema, poolSize: 1, applicationName: `instance-b ${schema}` } });
    const store = await openStore(config.db, silentLogger());
    try {
      await store.x.one(sql('SELECT 1 AS one'));
      expect(await applicationNames(schema)).toEqual([`instance-b ${schema}`]);
    } finally {
      await store.close();
    }
  });

  it('migrates under no idle-in-transaction bound, however long its JS holds the event loop, and serves under it after', async () => {
    // A code step computes between two statements of its transaction (history hashes, in
    // JS): on a large estate that may outlast db.idleInTransactionTimeoutMs, and the server
    // would end the migration every start, for good. Held here by a busy event loop.
    const schema = freshSchemaName();
    schemas.push(schema);
    // Below the config's 1 s floor on purpose, so a short busy loop outlasts it.
    const parsed = parseConfig({ mqtt: { enabled: false }, db: { url: PG_URL, schema, poolSize: 1 } });
    const config = { ...parsed, db: { ...parsed.db, idleInTransactionTimeoutMs: 100 } };
    const busy = setInterval(() => {
      const until = Date.now() + 200;
      while (Date.now() < until) {
        // The migration's session idles in its transaction meanwhile.
      }
    }, 200);
    let store: Awaited<ReturnType<typeof openStore>>;
    try {
      store = await openStore(config.db, silentLogger());
    } finally {
      clearInterval(busy);
    }
    try {
      const bound = await store.x.transaction(() => store.x.one<{ v: string }>(sql('SELECT current_setting(\'idle_in_transaction_session_timeout\') AS v')));
      expect(bound).toEqual({ v: '100ms' });
    } finally {
      await store.close();
    }
  }, 30_000);

  it('defaults the name to locker-backend', () => {
    expect(parseConfig({ mqtt: { enabled: false }, db: { url: PG_URL } }).db.applicationName).toBe('locker-backend');
  });
});

describe.skipIf(!runs)("openStore for a maintenance tool (existing) on PostgreSQL", () => {
  it('refuses a schema that holds no backend tables, creating nothing, and opens one at this release without migrating', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const config = parseConfig({ mqtt: { enabled: false }, db: { url: PG_URL, schema, poolSize: 1 } });
    await expect(openStore(config.db, silentLogger(), { existing: true })).rejects.toThrow(/holds no backend schema/);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const created = await client.query(`SELECT 1 FROM information_schema.schemata WHERE schema_name = $1`, [schema]);
      expect(created.rowCount).toBe(0);
    } finally {
      await client.end();
    }
    await (await openStore(config.db, silentLogger())).close();
    const tool = await openStore(config.db, silentLogger(), { existing: true });
    await tool.close();
  });
});
