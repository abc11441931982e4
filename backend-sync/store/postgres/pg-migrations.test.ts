import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { dropSchema, freshSchemaName, pgConfigIn, PG_URL, pgSuitesRun } from '../../testing/pg-test-db.js';
import { openPgStore } from '../open-store.js';
import { migratePg, PG_SCHEMA_VERSION } from './pg-migrations.js';

const runs = await pgSuitesRun('PostgreSQL migrations');
const schemas: string[] = [];
const clients: pg.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  for (const s of schemas.splice(0)) await dropSchema(s);
});

async function connect(schema: string): Promise<pg.Client> {
  const client = new pg.Client({ ...pgConfigIn(schema), application_name: `migrations ${schema}` });
  clients.push(client);
  await client.connect();
  return client;
}

/**
 * Resolves when a backend of this schema's test runs a statement matching `pattern` and waits
 * on a lock. Other test files migrate their own schemas on the same server at the same time
 * (and an index built concurrently waits on every older transaction there), so only this
 * schema's connections count.
 */
async function waitingIn(observer: pg.Client, schema: string, pattern: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const r = await observer.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE query LIKE $1 AND wait_event_type = 'Lock' AND application_name = $2`, [pattern, `migrations ${schema}`]);
    if (r.rows[0] !== undefined) return r.rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no backend waiting in ${pattern}`);
}

/** The schema's indexes by name, with whether each is valid. */
async function indexes(observer: pg.Client, schema: string, names: readonly string[]): Promise<Record<string, boolean>> {
  const r = await observer.query<{ name: string; valid: boolean }>(
    `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relnamespace = $1::regnamespace AND c.relname = ANY($2) ORDER BY 1`,
    [schema, names],
  );
  return Object.fromEntries(r.rows.map((x) => [x.name, x.valid]));
}

const ONLINE_INDEXES = ['alerts_by_locker', 'alerts_by_locker_at', 'alerts_by_time', 'audit_unprocessed', 'code_entries_revoked_expiry', 'idempotency_by_age', 'notifications_finished', 'refunds_by_order', 'reservations_abandoned', 'tracking_dead_letters_by_age', 'tracking_payloads_by_age'];

describe.skipIf(!runs)('PostgreSQL migrations', () => {
  it('three instances starting at once migrate the schema exactly once', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const stores = await Promise.all([1, 2, 3].map(() => openPgStore({ url: PG_URL, schema, poolSize: 2 }, silentLogger())));
    const client = new pg.Client(pgConfigIn(schema));
    await client.connect();
    expect((await client.query<{ version: number }>('SELECT version FROM schema_version')).rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
    await client.end();
    await Promise.all(stores.map((s) => s.close()));
  });

  it('refuses a database migrated by newer code, and says so', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const store = await openPgStore({ url: PG_URL, schema, poolSize: 1 }, silentLogger());
    await store.close();
    const client = new pg.Client(pgConfigIn(schema));
    await client.connect();
    await client.query('UPDATE schema_version SET version = version + 1');
    await client.end();
    await expect(openPgStore({ url: PG_URL, schema, poolSize: 1 }, silentLogger())).rejects.toMatchObject({ code: 'DB_TOO_NEW' });
  });

  it('an upgrade builds its indexes while the tables stay writable, and a second instance waits for it', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const [first, second, writer, other, observer] = await Promise.all([1, 2, 3, 4, 5].map(() => connect(schema)));
    await migratePg(first!, { schema, upTo: 4 });
    // A writer's transaction is open on refunds: the index build must wait for it to end.
    await writer!.query('BEGIN');
    await writer!.query(`UPDATE refunds SET state = state WHERE false`);
    const upgrades = [migratePg(first!, { schema }), migratePg(second!, { schema })];
    await waitingIn(observer!, schema, '%INDEX%refunds_by_order%');
    // Meanwhile another request writes to the table at once. A plain CREATE INDEX would have
    // queued its lock ahead of this write, stopping it until the open transaction ended.
    await other!.query(`SET statement_timeout = 3000`);
    await expect(other!.query(`UPDATE refunds SET state = state WHERE false`)).resolves.toBeDefined();
    await writer!.query('COMMIT');
    await Promise.all(upgrades);
    expect((await observer!.query<{ version: number }>('SELECT version FROM schema_version')).rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
    expect(await indexes(observer!, schema, ONLINE_INDEXES)).toEqual({ alerts_by_locker: true, alerts_by_time: true, audit_unprocessed: true, code_entries_revoked_expiry: true, idempotency_by_age: true, notifications_finished: true, refunds_by_order: true, reservations_abandoned: true, tracking_dead_letters_by_age: true, tracking_payloads_by_age: true });
    const def = await observer!.query<{ def: string }>(`SELECT pg_get_indexdef($1::regclass) AS def`, [`${schema}.alerts_by_locker`]);
    expect(def.rows[0]?.def).toMatch(/\(locker_id, at, id\)/);
  });

  it('a build interrupted part way is dropped and built again at the next start', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const [migrator, writer, observer, again] = await Promise.all([1, 2, 3, 4].map(() => connect(schema)));
    await migratePg(migrator!, { schema, upTo: 4 });
    await writer!.query('BEGIN');
    await writer!.query(`UPDATE refunds SET state = state WHERE false`);
    // Its outcome is taken at once: under load the cancelled migration may reject before the
    // cancel's own answer comes back, and a rejection nobody holds yet is an unhandled one.
    const upgrade = migratePg(migrator!, { schema }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const pid = await waitingIn(observer!, schema, '%INDEX%refunds_by_order%');
    await observer!.query('SELECT pg_cancel_backend($1)', [pid]);
    expect(await upgrade).toMatchObject({ message: expect.stringMatching(/cancel/) as string });
    await writer!.query('ROLLBACK');
    // What the cancelled build left: an INVALID index, and the version of the last whole step.
    expect(await indexes(observer!, schema, ['refunds_by_order'])).toEqual({ refunds_by_order: false });
    expect((await observer!.query<{ version: number }>('SELECT version FROM schema_version')).rows).toEqual([{ version: 4 }]);
    // The next start (another connection: the lock went with the cancelled migration's end).
    await migratePg(again!, { schema });
    expect(await indexes(observer!, schema, ONLINE_INDEXES)).toEqual({ alerts_by_locker: true, alerts_by_time: true, audit_unprocessed: true, code_entries_revoked_expiry: true, idempotency_by_age: true, notifications_finished: true, refunds_by_order: true, reservations_abandoned: true, tracking_dead_letters_by_age: true, tracking_payloads_by_age: true });
    expect((await observer!.query<{ version: number }>('SELECT version FROM schema_version')).rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
  });
});
