import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { pgValues, type Sql, type SqlParams } from '../sql/sql-text.js';
import { isRetryableDbError } from '../retryable-error.js';
import { isDbUnavailableError } from '../db-unavailable.js';
import { pgSessionConfig } from './pg-session-options.js';

// The production engine behind the async store interface: a pool of connections. A
// statement outside a transaction takes any pooled connection; `transaction(work)` pins
// one connection for `work` (found again through AsyncLocalStorage by every repository
// call inside it), so concurrent transactions run in parallel on the server and conflicts
// are settled by the database: conditional writes, row locks, unique constraints.
// Statements are named, so each connection parses and plans them once.
//
// Every statement is bounded (queryTimeoutMs, node-postgres' client-side query_timeout): a
// connection that froze mid-statement (its server process stopped, the network dropping its
// packets) fails the statement as DB_UNAVAILABLE instead of holding the request and its
// pooled connection for ever. The connection is then in an unknown state (the answer may
// still arrive), so it is destroyed, never reused: pg-pool removes a client released with an
// error, and ending a client whose statement is still outstanding destroys its socket. A
// transaction on it is never committed: the server rolls it back when the session ends.
// Code inside the transaction may catch the error and go on (a savepoint per item): every
// later statement of that transaction, COMMIT included, fails at once with the same error,
// never queued behind the lost one, which could still finish and let COMMIT keep a savepoint
// that was never rolled back.
// No server-side statement_timeout: it would not cover a frozen server or network, and
// migrations run long index builds on these connections. But a server-side
// idle_in_transaction_session_timeout (idleInTransactionTimeoutMs): the client's query
// timeout frees this instance from a frozen network, not the server, which keeps the
// session, its open transaction and its row locks until its TCP keepalive gives up (hours):
// every other instance touching those rows would wait for them. Past the bound the server
// ends a transaction whose client has gone quiet between statements, and the locks go.
// A session the server ends while its transaction waits between statements (that bound, a
// failover, pg_terminate_backend) is heard as an 'error' on the checked-out client, which
// pg-pool leaves without a listener: it is caught here and fails only that transaction, as
// DB_UNAVAILABLE, instead of reaching the process as an uncaught exception.

interface Tx {
  client: pg.PoolClient;
  savepoints: number;
  open: boolean;
  /** The DB_UNAVAILABLE error that made the connection unusable; the transaction can only end in it. */
  lost?: Error;
}

// BIGINT (epoch ms, counts) as JS numbers: every value we store is far below 2^53.
const INT8 = 20;
const toNumber = (v: string): number => Number(v);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown => (oid === INT8 ? toNumber : (pg.types.getTypeParser(oid, format) as unknown))) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PgExecutorOptions {
  url: string;
  /** The schema every connection works in (tests give each run its own). */
  schema?: string | undefined;
  poolSize?: number | undefined;
  applicationName?: string | undefined;
  /** A new connection that has not answered in this long fails (db.connectTimeoutMs). */
  connectTimeoutMs?: number | undefined;
  /** A statement that has not been answered in this long fails and its connection is discarded (db.queryTimeoutMs). */
  queryTimeoutMs?: number | undefined;
  /** The server ends a transaction left idle between statements this long (db.idleInTransactionTimeoutMs; 0: never). */
  idleInTransactionTimeoutMs?: number | undefined;
}

/** query_timeout per statement (typed on the client config only), so migrations' raw clients stay unbounded. */
type TimedQuery = pg.QueryConfig & { query_timeout: number };

export class PgExecutor implements SqlExecutor {
  readonly engine = 'postgres' as const;
  readonly pool: pg.Pool;
  /**
   * The health probe's own connection. Through `pool` a probe would queue behind a burst of
   * requests holding every connection, time out, and report the database down on every
   * instance at once: a load balancer would then take them all out for load, not an outage.
   */
  private readonly probe: pg.Pool;
  private pinging: Promise<void> | undefined;
  private readonly als = new AsyncLocalStorage<Tx>();
  private readonly queryTimeoutMs: number;

  constructor(o: PgExecutorOptions) {
    this.queryTimeoutMs = o.queryTimeoutMs ?? 30_000;
    const config: pg.PoolConfig = {
      // The URL's own options merged with ours (a URL's options would replace ours whole).
      ...pgSessionConfig(o.url, sessionSettings(o)),
      types,
      application_name: o.applicationName ?? 'locker-backend',
      // Unbounded by default in node-postgres: a server that never answers would hold the
      // request (and /health) for ever instead of failing it as DB_UNAVAILABLE.
      connectionTimeoutMillis: o.connectTimeoutMs ?? 5_000,
    };
    this.pool = new pg.Pool({ ...config, max: o.poolSize ?? 10 });
    this.probe = new pg.Pool({ ...config, max: 1 });
    // An idle connection dropped by the server must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined);
    this.probe.on('error', () => undefined);
  }

  ping(): Promise<void> {
    // Shared by concurrent health checks (several load balancers, a slow answer): one
    // statement in flight per instance, whatever the polling rate.
    this.pinging ??= this.probe
      .query(this.timed('SELECT 1'))
      .then(() => undefined)
      .finally(() => {
        this.pinging = undefined;
      });
    return this.pinging;
  }

  private timed(text: string, more: Omit<pg.QueryConfig, 'text'> = {}): TimedQuery {
    return { ...more, text, query_timeout: this.queryTimeoutMs };
  }

  private current(): Tx | undefined {
    const tx = this.als.getStore();
    return tx?.open === true ? tx : undefined;
  }

  private async query<R>(q: Sql, params: SqlParams | undefined): Promise<pg.QueryResult<R & pg.QueryResultRow>> {
    const c = q.compile('postgres');
    const config = this.timed(c.text, { name: c.key, values: pgValues(c, params) });
    const tx = this.current();
    return tx === undefined ? this.pool.query<R & pg.QueryResultRow>(config) : this.onTx<R & pg.QueryResultRow>(tx, config);
  }

  /** A statement of `tx`: refused once its connection was lost, and marks it lost on a DB_UNAVAILABLE error. */
  private async onTx<R extends pg.QueryResultRow>(tx: Tx, config: TimedQuery): Promise<pg.QueryResult<R>> {
    if (tx.lost !== undefined) throw tx.lost;
    try {
      return await tx.client.query<R>(config);
    } catch (err) {
      if (isDbUnavailableError(err)) tx.lost = err instanceof Error ? err : new Error('Connection terminated', { cause: err });
      throw err;
    }
  }

  async all<R>(q: Sql, params?: SqlParams): Promise<R[]> {
    return (await this.query<R>(q, params)).rows;
  }

  async one<R>(q: Sql, params?: SqlParams): Promise<R | undefined> {
    return (await this.query<R>(q, params)).rows[0];
  }

  async run(q: Sql, params?: SqlParams): Promise<number> {
    return (await this.query(q, params)).rowCount ?? 0;
  }

  async runEach(q: Sql, rows: readonly SqlParams[]): Promise<number[]> {
    const out: number[] = [];
    for (const r of rows) out.push(await this.run(q, r));
    return out;
  }

  async oneEach<R>(q: Sql, rows: readonly SqlParams[]): Promise<Array<R | undefined>> {
    const out: Array<R | undefined> = [];
    for (const r of rows) out.push(await this.one<R>(q, r));
    return out;
  }

  inTransaction(): boolean {
    return this.current() !== undefined;
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.current();
    if (outer !== undefined) return this.savepoint(outer, work);
    // Two transactions that lock rows in opposite orders (a sweeper and a deposit) can
    // deadlock; PostgreSQL aborts one. Its work rolled back whole, so it is run again.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(work);
      } catch (err) {
        if (attempt >= MAX_ATTEMPTS || !isRetryableDbError(err)) throw err;
      }
    }
  }

  private async once<T>(work: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Tx = { client, savepoints: 0, open: true };
    const ended = (err: Error): void => {
      tx.lost ??= new Error(`Connection terminated by the server: ${err.message}`, { cause: err });
    };
    client.on('error', ended);
    let broken = false;
    let workThrew = false;
    try {
      await this.onTx(tx, this.timed('BEGIN'));
      let result: T;
      try {
        result = await this.als.run(tx, work);
      } catch (err) {
        workThrew = true;
        // A ROLLBACK would queue behind a statement that timed out and wait as long again;
        // the session is dropped instead, and the server rolls the transaction back. Also
        // when the work caught the lost connection's error and then threw another.
        if (isDbUnavailableError(err) || tx.lost !== undefined) broken = true;
        else await client.query(this.timed('ROLLBACK')).catch(() => (broken = true));
        throw err;
      }
      // The work caught the lost connection's error and returned: refused, never committed.
      if (tx.lost !== undefined) {
        broken = true;
        throw tx.lost;
      }
      await this.onTx(tx, this.timed('COMMIT'));
      return result;
    } catch (err) {
      if (!workThrew && isConnectionError(err)) broken = true;
      throw err;
    } finally {
      tx.open = false;
      client.removeListener('error', ended);
      client.release(broken || tx.lost !== undefined);
    }
  }

  private async savepoint<T>(tx: Tx, work: () => Promise<T>): Promise<T> {
    const name = `sp${String(++tx.savepoints)}`;
    await this.onTx(tx, this.timed(`SAVEPOINT ${name}`));
    try {
      const result = await work();
      await this.onTx(tx, this.timed(`RELEASE SAVEPOINT ${name}`));
      return result;
    } catch (err) {
      // The connection is lost or frozen: the outer transaction drops it (see once()).
      if (isDbUnavailableError(err)) throw err;
      if (tx.lost !== undefined) throw tx.lost;
      await this.onTx(tx, this.timed(`ROLLBACK TO SAVEPOINT ${name}`));
      await this.onTx(tx, this.timed(`RELEASE SAVEPOINT ${name}`));
      throw err;
    }
  }

  // PostgreSQL commits concurrent transactions in parallel and groups their WAL flushes
  // itself, so a grouped unit is simply its own transaction here.
  transactionGrouped<T>(work: () => Promise<T>): Promise<T> {
    return this.transaction(work);
  }

  async close(): Promise<void> {
    await Promise.all([this.pool.end(), this.probe.end()]);
  }
}

const MAX_ATTEMPTS = 4;

/** Settings every session starts with (libpq `options`, after the URL's own). */
function sessionSettings(o: PgExecutorOptions): Record<string, string> {
  const idle = o.idleInTransactionTimeoutMs ?? 60_000;
  return { ...(o.schema === undefined ? {} : { search_path: o.schema }), idle_in_transaction_session_timeout: String(idle) };
}


function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code !== 'string' || code.startsWith('08') || code === '57P01';
}
