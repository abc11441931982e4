import { AsyncLocalStorage } from 'node:async_hooks';
import type Database from 'better-sqlite3';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql, type Sql, type SqlParams } from '../sql/sql-text.js';
import type { BackendError } from '../../shared/errors.js';
import type { BackgroundCheckpointer } from './background-checkpointer.js';
import { databaseFile } from './database-file.js';
import { WalSync } from './wal-sync.js';

// The embedded engine behind the async store interface. better-sqlite3 is synchronous and
// has one connection: a statement outside a transaction runs at once, atomically. A
// transaction is BEGIN IMMEDIATE … COMMIT around async work, so while it is open, other
// async callers must not slip statements into it: they wait for it to finish (a mutex),
// and calls made from inside it (tracked by AsyncLocalStorage) go straight through.
// Statements are prepared once and cached by text.
//
// Durability: openSqlite runs the connection with synchronous=NORMAL, so a COMMIT writes
// the WAL without waiting for the disk; every write (a transaction, or a writing statement
// outside one) then awaits WalSync.flush(), an fdatasync on the thread pool, before its
// promise settles. Nobody is told "done" before it is on disk, and the event loop keeps
// serving while the disk works (docs/decisions/0035).

const SYNCHRONOUS_FULL = 2;
const pingSql = sql('SELECT 1 AS one');

interface Tx {
  savepoints: number;
  done: Promise<void>;
}

interface GroupUnit {
  work: () => Promise<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class SqliteExecutor implements SqlExecutor {
  readonly engine = 'sqlite' as const;
  private readonly statements = new Map<Sql, Database.Statement>();
  /** BEGIN/COMMIT/SAVEPOINT…, prepared once: db.exec would compile them on every unit. */
  private readonly control = new Map<string, Database.Statement>();
  private readonly als = new AsyncLocalStorage<Tx>();
  private active: Tx | undefined;
  private queue: GroupUnit[] = [];
  private flushScheduled = false;
  /** Undefined when COMMIT itself is durable (synchronous=FULL), or nothing is on disk. */
  private readonly walSync: WalSync | undefined;

  constructor(
    readonly db: Database.Database,
    /** Group-commit batch bound: a bigger batch shares one fsync among more units. */
    private readonly maxGroup = 256,
    /** Started and stopped with the executor: checkpoints off the event loop. */
    private readonly checkpointer?: BackgroundCheckpointer,
  ) {
    checkpointer?.start();
    // Only a WAL connection that does not sync its own commits (openSqlite's) needs it.
    const ownSync = db.memory || db.pragma('journal_mode', { simple: true }) !== 'wal' || Number(db.pragma('synchronous', { simple: true })) >= SYNCHRONOUS_FULL;
    this.walSync = ownSync
      ? undefined
      : new WalSync(`${databaseFile(db)}-wal`, (err) => {
          // Nothing may copy possibly lost pages into the database file from now on.
          this.checkpointer?.halt();
          this.durabilityLost.forEach((f) => f(err));
        });
  }

  private readonly durabilityLost: Array<(err: BackendError) => void> = [];

  /** `listener` hears once that the WAL could not be synced: every later write fails, so the
   * process should stop and let SQLite recover on restart (main.ts exits 1). */
  onDurabilityLost(listener: (err: BackendError) => void): void {
    this.durabilityLost.push(listener);
  }

  /** fdatasync calls of the WAL so far (tests, metrics). */
  get walSyncs(): number {
    return this.walSync?.syncs ?? 0;
  }

  private durable(): Promise<void> {
    return this.walSync === undefined ? Promise.resolve() : this.walSync.flush();
  }

  /** A statement that wrote outside any transaction committed on its own: make it durable. */
  private settle<T>(q: Sql, value: T): T | Promise<T> {
    if (this.walSync === undefined || this.statement(q).readonly || this.inTransaction()) return value;
    return this.walSync.flush().then(() => value);
  }

  private statement(q: Sql): Database.Statement {
    let s = this.statements.get(q);
    if (s === undefined) {
      s = this.db.prepare(q.compile('sqlite').text);
      this.statements.set(q, s);
    }
    return s;
  }

  private exec(text: string): void {
    let s = this.control.get(text);
    if (s === undefined) {
      s = this.db.prepare(text);
      this.control.set(text, s);
    }
    s.run();
  }

  private ready(): boolean {
    return this.active === undefined || this.als.getStore() === this.active;
  }

  // The readiness check and the statement run in one synchronous step after any wait: no
  // other transaction can open in between.
  async all<R>(q: Sql, params?: SqlParams): Promise<R[]> {
    while (!this.ready()) await (this.active as Tx).done;
    return this.settle(q, this.allNow<R>(q, params));
  }

  async one<R>(q: Sql, params?: SqlParams): Promise<R | undefined> {
    while (!this.ready()) await (this.active as Tx).done;
    return this.settle(q, this.oneNow<R>(q, params));
  }

  async run(q: Sql, params?: SqlParams): Promise<number> {
    while (!this.ready()) await (this.active as Tx).done;
    return this.settle(q, this.runNow(q, params));
  }

  async runEach(q: Sql, rows: readonly SqlParams[]): Promise<number[]> {
    while (!this.ready()) await (this.active as Tx).done;
    const out = new Array<number>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.runNow(q, rows[i]);
    return rows.length === 0 ? out : this.settle(q, out);
  }

  async oneEach<R>(q: Sql, rows: readonly SqlParams[]): Promise<Array<R | undefined>> {
    while (!this.ready()) await (this.active as Tx).done;
    const out = new Array<R | undefined>(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = this.oneNow<R>(q, rows[i]);
    return rows.length === 0 ? out : this.settle(q, out);
  }

  // Without waiting for a transaction in flight: SELECT 1 reads no table, so running it on
  // the connection inside another caller's transaction changes nothing; a closed database
  // still fails it.
  ping(): Promise<void> {
    return new Promise((resolve) => {
      this.oneNow(pingSql, undefined);
      resolve();
    });
  }

  private allNow<R>(q: Sql, params: SqlParams | undefined): R[] {
    const s = this.statement(q);
    return (params === undefined ? s.all() : s.all(params)) as R[];
  }

  private oneNow<R>(q: Sql, params: SqlParams | undefined): R | undefined {
    const s = this.statement(q);
    return (params === undefined ? s.get() : s.get(params)) as R | undefined;
  }

  private runNow(q: Sql, params: SqlParams | undefined): number {
    const s = this.statement(q);
    if (s.reader) {
      // A write with RETURNING read as a run: count the rows it returned.
      return (params === undefined ? s.all() : s.all(params)).length;
    }
    return (params === undefined ? s.run() : s.run(params)).changes;
  }

  inTransaction(): boolean {
    const tx = this.als.getStore();
    return tx !== undefined && tx === this.active;
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const current = this.als.getStore();
    if (current !== undefined && current === this.active) return this.savepoint(current, work);
    while (this.active !== undefined) await this.active.done;
    let finish!: () => void;
    const tx: Tx = { savepoints: 0, done: new Promise<void>((r) => (finish = r)) };
    this.active = tx;
    let result: T;
    try {
      this.exec('BEGIN IMMEDIATE');
      try {
        result = await this.als.run(tx, work);
      } catch (err) {
        if (this.db.inTransaction) this.exec('ROLLBACK');
        throw err;
      }
      this.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.exec('ROLLBACK');
      throw err;
    } finally {
      this.active = undefined;
      finish();
    }
    // The next transaction may begin while the disk syncs this one: its frames come after
    // ours, and its own flush covers both.
    await this.durable();
    return result;
  }

  private async savepoint<T>(tx: Tx, work: () => Promise<T>): Promise<T> {
    // Named by depth: siblings reuse the name (the previous one is released), so a group
    // of 256 units needs one prepared SAVEPOINT, not 256.
    const name = `sp${String(++tx.savepoints)}`;
    this.exec(`SAVEPOINT ${name}`);
    try {
      const result = await work();
      this.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      if (this.db.inTransaction) {
        this.exec(`ROLLBACK TO ${name}`);
        this.exec(`RELEASE ${name}`);
      }
      throw err;
    } finally {
      tx.savepoints--;
    }
  }

  // Group commit: units queued in the same event-loop turn share one transaction, hence
  // one WAL write and one fsync (an fsync per commit is what caps single-transaction writes
  // on this disk). Each unit runs in its own SAVEPOINT, so a unit
  // that throws (no capacity, bad input) is undone alone and rejects alone. Every promise
  // settles only after the shared COMMIT: nobody answers a client with something not yet
  // durable. If the COMMIT fails, all reject. (docs/decisions/0011)
  transactionGrouped<T>(work: () => Promise<T>): Promise<T> {
    if (this.inTransaction()) return this.transaction(work);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxGroup);
      const outcomes: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
      try {
        await this.transaction(async () => {
          for (const unit of batch) {
            try {
              outcomes.push({ ok: true, value: await this.transaction(unit.work) });
            } catch (err) {
              outcomes.push({ ok: false, err });
            }
          }
        });
      } catch (err) {
        for (const unit of batch) unit.reject(err);
        continue;
      }
      batch.forEach((unit, i) => {
        const o = outcomes[i];
        if (o === undefined) unit.reject(new Error('group commit lost an outcome'));
        else if (o.ok) unit.resolve(o.value);
        else unit.reject(o.err);
      });
    }
  }

  async close(): Promise<void> {
    await this.checkpointer?.stop();
    await this.walSync?.close();
    // After a failed sync a clean close would checkpoint pages the kernel may have lost into
    // the database file: leave the WAL as it is for SQLite's recovery at the next start.
    if (this.walSync?.failed === true) return;
    if (this.db.open) this.db.close();
  }
}
