import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../http/app.js';
import { answered } from '../../testing/answered.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { probeClusterBinaries, startPrivateCluster, type PrivatePgCluster } from '../../testing/private-pg-cluster.js';
import { waitFor } from '../../testing/wait-for.js';
import { isDbUnavailableError } from '../db-unavailable.js';
import { sql } from '../sql/sql-text.js';
import type { PgExecutor } from './pg-executor.js';

// A connection that freezes mid-statement: its server process stopped (SIGSTOP, as a frozen
// host or a network black-holing its packets looks to the client). The connect timeout does
// not help, the connection is already open. The request must answer 503 DB_UNAVAILABLE
// within db.queryTimeoutMs, the frozen connection must leave the pool for good (the next
// request gets a fresh one while the old is still frozen), and a transaction on it must not
// be committed. Runs on a private cluster (testing/private-pg-cluster.ts).

const probe = probeClusterBinaries();
if (!probe.available) process.stderr.write(`[skip] frozen PostgreSQL connection: ${probe.reason}\n`);

const QUERY_TIMEOUT_MS = 1_000;

interface ErrorJson {
  error: { code: string };
}

describe.skipIf(!probe.available)('a PostgreSQL connection frozen mid-statement', () => {
  let cluster: PrivatePgCluster;
  let f: BackendFixture;
  let app: App;
  let admin: pg.Client;
  const rejections: unknown[] = [];
  const onRejection = (err: unknown): void => void rejections.push(err);

  beforeAll(async () => {
    if (!probe.available) return;
    process.on('unhandledRejection', onRejection);
    cluster = await startPrivateCluster(probe.bin);
    f = await makeBackend({ engine: 'postgres', pgUrl: cluster.url, config: { db: { connectTimeoutMs: 2_000, queryTimeoutMs: QUERY_TIMEOUT_MS } } });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 8 }));
    app = await f.app();
    admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
  }, 120_000);

  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await admin?.end().catch(() => undefined);
    await f?.close().catch(() => undefined);
    await cluster?.destroy();
  }, 60_000);

  const pool = (): pg.Pool => (f.store.x as PgExecutor).pool;
  const reserve = (key: string) => app.inject({ method: 'POST', url: '/reservations', headers: { 'idempotency-key': key }, payload: { orderRef: key, lockerId: 'lk-a', size: 'M' } });
  /** The server processes of the backend's sessions (only the fixture and this admin connect to the cluster). */
  const sessionPids = async (): Promise<number[]> =>
    (await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`)).rows.map((r) => r.pid);
  const alive = async (pid: number): Promise<boolean> => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount !== 0;

  it('answers 503 DB_UNAVAILABLE within the query timeout, drops the connection, and serves again', async () => {
    expect((await reserve('frozen-before-1')).statusCode).toBe(201);
    const frozen = await sessionPids();
    expect(frozen.length).toBeGreaterThan(0);
    const before = pool().totalCount;
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    try {
      // The request takes an idle pooled connection whose server process no longer runs.
      const started = Date.now();
      const held = await answered('POST /reservations on a frozen connection', reserve('frozen-during-1'));
      expect(held.statusCode).toBe(503);
      expect(held.json<ErrorJson>().error.code).toBe('DB_UNAVAILABLE');
      expect(held.headers['retry-after']).toBeDefined();
      expect(Date.now() - started).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
      // Discarded, not handed to the next request: while the old process is still stopped,
      // the next request opens a fresh connection and is served.
      expect(pool().totalCount).toBe(before - 1);
      const next = await answered('POST /reservations after the frozen connection was dropped', reserve('frozen-during-2'));
      expect(next.statusCode).toBe(201);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await waitFor(async () => (await app.inject({ method: 'GET', url: '/health' })).statusCode === 200, '/health to report the database back', 30_000);
    expect((await reserve('frozen-after-1')).statusCode).toBe(201);
    // The refused request left nothing behind: a retry under its key is a new hold.
    expect((await reserve('frozen-during-1')).statusCode).toBe(201);
    expect(rejections).toEqual([]);
  }, 60_000);

  it('never commits a transaction whose connection froze mid-way', async () => {
    let pid = 0;
    const tx = f.store.transaction(async () => {
      await f.store.idempotency.put('frozen-tx', 'written-before-freeze', { requestHash: 'h', statusCode: 201, responseJson: '{}' }, f.clock.now());
      pid = (await f.store.x.one<{ pid: number }>(sql('SELECT pg_backend_pid() AS pid')))?.pid ?? 0;
      process.kill(pid, 'SIGSTOP');
      await f.store.idempotency.get('frozen-tx', 'written-before-freeze');
    });
    try {
      const err = await answered('a transaction on a frozen connection', tx.then(() => undefined, (e: unknown) => e));
      expect(isDbUnavailableError(err)).toBe(true);
    } finally {
      if (pid !== 0) process.kill(pid, 'SIGCONT');
    }
    // The socket was destroyed: the resumed server process finds the session gone and rolls back.
    await waitFor(async () => !(await alive(pid)), 'the frozen session to end', 30_000);
    expect(await f.store.idempotency.get('frozen-tx', 'written-before-freeze')).toBeUndefined();
    expect(rejections).toEqual([]);
  }, 60_000);
});
