import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, freshSchemaName, PG_URL, pgSuitesRun, testApplicationName } from '../../testing/pg-test-db.js';
import { waitFor } from '../../testing/wait-for.js';
import { isDbUnavailableError } from '../db-unavailable.js';
import { sql } from '../sql/sql-text.js';
import { PgExecutor } from './pg-executor.js';

// The server ends a session while one of our transactions is open on it but between two
// statements (the instance is running its own code, or its network black-holed the next
// statement). Two ways this happens: an operator or failover terminates the session, or
// the server's idle_in_transaction_session_timeout (db.idleInTransactionTimeoutMs) ends a
// transaction whose client went quiet, so its row locks stop blocking the other instances.
// Either way node-postgres hears of it with no statement in flight and emits 'error' on
// the checked-out client; with no listener there that is an uncaught exception, and the
// whole backend process dies. It must fail only that transaction, as DB_UNAVAILABLE.

const runs = await pgSuitesRun('PostgreSQL session ended mid-transaction');

describe.skipIf(!runs)('a PostgreSQL session ended while its transaction waits between statements', () => {
  const schema = freshSchemaName();
  let admin: pg.Client;
  const executors: PgExecutor[] = [];
  const executor = (o: { idleInTransactionTimeoutMs?: number } = {}): PgExecutor => {
    const x = new PgExecutor({ url: PG_URL, schema, applicationName: testApplicationName(schema), ...o });
    executors.push(x);
    return x;
  };
  const pidOf = async (x: PgExecutor): Promise<number> => ((await x.one<{ pid: number }>(sql('SELECT pg_backend_pid() AS pid'))) as { pid: number }).pid;
  const gone = async (pid: number): Promise<boolean> => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0;

  beforeAll(async () => {
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}.slots (id INTEGER PRIMARY KEY, holder TEXT)`);
    await admin.query(`INSERT INTO ${schema}.slots VALUES (1, NULL)`);
  });

  afterEach(async () => {
    await Promise.all(executors.splice(0).map((x) => x.close().catch(() => undefined)));
  });

  afterAll(async () => {
    await admin?.end().catch(() => undefined);
    await dropSchema(schema);
  });

  it('terminated by the server: the transaction fails as DB_UNAVAILABLE, the process lives, the pool serves on', async () => {
    const x = executor();
    let release!: () => void;
    const resume = new Promise<void>((r) => (release = r));
    let pid = 0;
    const tx = x.transaction(async () => {
      const own = await pidOf(x);
      await x.run(sql('UPDATE slots SET holder = @holder WHERE id = 1'), { holder: 'a' });
      // Published only once no statement is in flight: terminated during the UPDATE, the
      // transaction failed before the test listened to it (an unhandled rejection, not this case).
      pid = own;
      await resume;
      await x.run(sql('UPDATE slots SET holder = @holder WHERE id = 1'), { holder: 'b' });
    });
    await waitFor(() => pid !== 0, "the transaction's session");
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    await waitFor(() => gone(pid), "the session to end");
    // The client has read the server's FATAL by now (an uncaught 'error' would already have failed this file).
    await new Promise((r) => setTimeout(r, 100));
    release();
    const err = await tx.then(() => undefined, (e: unknown) => e);
    expect(isDbUnavailableError(err)).toBe(true);
    expect((await admin.query(`SELECT holder FROM ${schema}.slots WHERE id = 1`)).rows[0]).toEqual({ holder: null });
    expect(await x.one(sql('SELECT 1 AS one'))).toEqual({ one: 1 });
    expect(await pidOf(x)).not.toBe(pid);
  });

  it('a client gone quiet mid-transaction: the server ends it after db.idleInTransactionTimeoutMs and its row lock frees', async () => {
    const x = executor({ idleInTransactionTimeoutMs: 500 });
    let release!: () => void;
    const quiet = new Promise<void>((r) => (release = r));
    let locked = false;
    const tx = x.transaction(async () => {
      await x.run(sql('UPDATE slots SET holder = @holder WHERE id = 1'), { holder: 'quiet' });
      locked = true;
      await quiet;
      await x.run(sql('SELECT 1'));
    });
    await waitFor(() => locked, "the row lock");
    // Another instance wants the same row: it waits for the lock, then gets it once the quiet transaction is ended.
    const other = new pg.Client({ connectionString: PG_URL });
    await other.connect();
    try {
      await other.query(`SET lock_timeout = '20s'`);
      const r = await other.query(`UPDATE ${schema}.slots SET holder = 'other' WHERE id = 1`);
      expect(r.rowCount).toBe(1);
    } finally {
      await other.end();
    }
    release();
    const err = await tx.then(() => undefined, (e: unknown) => e);
    expect(isDbUnavailableError(err)).toBe(true);
    expect((await admin.query(`SELECT holder FROM ${schema}.slots WHERE id = 1`)).rows[0]).toEqual({ holder: 'other' });
    expect(await x.one(sql('SELECT 1 AS one'))).toEqual({ one: 1 });
  });

  it('ended while the event loop was blocked: the next statement hears the FATAL and fails as DB_UNAVAILABLE', async () => {
    // Synchronous work past the bound (a long computation between two statements): the
    // server's FATAL 25P03 waits unread in the socket while the next statement is sent, so
    // node-postgres hands it to that statement, not to the client's 'error' listener.
    const x = executor({ idleInTransactionTimeoutMs: 200 });
    const err = await x
      .transaction(async () => {
        await x.run(sql('UPDATE slots SET holder = @holder WHERE id = 1'), { holder: 'blocked' });
        const until = Date.now() + 700;
        while (Date.now() < until) {
          // The event loop is held: no socket is read.
        }
        await x.run(sql('UPDATE slots SET holder = @holder WHERE id = 1'), { holder: 'after' });
      })
      .then(() => undefined, (e: unknown) => e);
    expect(isDbUnavailableError(err)).toBe(true);
    expect((await admin.query(`SELECT holder FROM ${schema}.slots WHERE id = 1`)).rows[0]).not.toEqual({ holder: 'after' });
    expect(await x.one(sql('SELECT 1 AS one'))).toEqual({ one: 1 });
  });

  it('a transaction that keeps talking is not ended, however long it lasts', async () => {
    const x = executor({ idleInTransactionTimeoutMs: 500 });
    await x.transaction(async () => {
      for (let i = 0; i < 6; i++) {
        await x.run(sql('UPDATE slots SET holder = @holder WHERE id = 1'), { holder: `busy-${String(i)}` });
        await new Promise((r) => setTimeout(r, 200));
      }
    });
    expect((await admin.query(`SELECT holder FROM ${schema}.slots WHERE id = 1`)).rows[0]).toEqual({ holder: 'busy-5' });
  });
});
