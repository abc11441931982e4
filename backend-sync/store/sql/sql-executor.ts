import type { Engine, Sql, SqlParams } from './sql-text.js';

// What a repository needs from a database: run one statement, read rows, count changes,
// and group statements into a transaction. Both engines implement it; repositories are
// written once against it (docs/decisions/0029). A call made inside `transaction(work)` —
// however deep in `work`'s async calls — runs on that transaction: the executor tracks
// the current transaction with AsyncLocalStorage, so repositories need no handle passed in.

export interface SqlExecutor {
  readonly engine: Engine;
  all<R>(q: Sql, params?: SqlParams): Promise<R[]>;
  one<R>(q: Sql, params?: SqlParams): Promise<R | undefined>;
  /** Runs a write; resolves to the number of rows it changed. */
  run(q: Sql, params?: SqlParams): Promise<number>;
  /**
   * Runs one write per parameter set, in order; resolves to each one's changed-row count.
   * SQLite runs them back to back on the prepared statement in one synchronous step (per
   * row this is ~3× cheaper than unpacking a JSON array in SQL); PostgreSQL runs them one
   * after another, so repositories keep their one-round-trip JSON statements there.
   */
  runEach(q: Sql, rows: readonly SqlParams[]): Promise<number[]>;
  /** `one` per parameter set, in order (point lookups; SQLite: one synchronous step). */
  oneEach<R>(q: Sql, rows: readonly SqlParams[]): Promise<Array<R | undefined>>;
  /** Runs `work` atomically; a nested call is a savepoint inside the outer transaction. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` atomically, possibly sharing one commit with other work queued in the same
   * turn (SQLite group commit); resolves after that commit. Each unit is its own savepoint.
   */
  transactionGrouped<T>(work: () => Promise<T>): Promise<T>;
  /** True while called from inside a transaction of this executor. */
  inTransaction(): boolean;
  /**
   * Asks the database for a trivial answer (GET /health), never waiting behind the
   * requests' transactions or pool: busy is not down. Concurrent calls share one probe.
   */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Runs a repository's multi-statement method atomically: inside the caller's transaction
 * when there is one (the usual case, at no extra cost), else in its own.
 */
export function atomically<T>(x: SqlExecutor, work: () => Promise<T>): Promise<T> {
  return x.inTransaction() ? work() : x.transaction(work);
}
