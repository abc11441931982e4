import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect, SqliteDialect, type Compilable, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import type { SqliteDatabase } from '@locker/backend/store/sqlite/open-sqlite.js';
import type { HoldDatabase } from './kysely-schema.js';
import { holdResponse, NoCapacityError, SCOPE, type HoldInput } from './hold-schedule.js';

// Variant (b): the same checkout hold unit written once with Kysely 0.28's typed builder,
// over better-sqlite3 (SqliteDialect) and pg (PostgresDialect). The claim is the builder's
// spelling of the repository's claim (on SQLite by the clustered key: compartments has no
// rowid since migration 14). The engines still need one branch: the
// row lock (`FOR UPDATE OF c SKIP LOCKED`) exists only on PostgreSQL, and Kysely emits
// what it is told, so a single builder chain would be refused by SQLite.

type Db = Kysely<HoldDatabase>;
export type KyselyEngine = 'sqlite' | 'postgres';

export function kyselyOverSqlite(db: SqliteDatabase): Db {
  return new Kysely<HoldDatabase>({ dialect: new SqliteDialect({ database: db }) });
}

/**
 * Kysely's SqliteDriver prepares every statement anew on every execution. This hands it a
 * database whose prepare() returns the statement cached by SQL text, as SqliteExecutor
 * keeps them: a diagnostic figure, to tell the prepare cost apart from the builder's.
 */
export function kyselyOverSqliteCachingStatements(db: SqliteDatabase): Db {
  const statements = new Map<string, ReturnType<SqliteDatabase['prepare']>>();
  const database = {
    close: () => db.close(),
    prepare: (text: string) => {
      let s = statements.get(text);
      if (s === undefined) {
        s = db.prepare(text);
        statements.set(text, s);
      }
      return s;
    },
  };
  return new Kysely<HoldDatabase>({ dialect: new SqliteDialect({ database }) });
}

export function kyselyOverPg(pool: pg.Pool): Db {
  return new Kysely<HoldDatabase>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * Kysely's PostgresDriver sends every statement unnamed, so the server parses and plans it
 * on every execution. This hands it a pool whose clients name each statement by a hash of
 * its text, as PgExecutor does: a diagnostic figure, to tell that server work apart.
 */
export function kyselyOverPgNamingStatements(pool: pg.Pool): Db {
  const names = new Map<string, string>();
  const nameOf = (text: string): string => {
    let n = names.get(text);
    if (n === undefined) {
      n = `k${createHash('sha1').update(text).digest('hex').slice(0, 16)}`;
      names.set(text, n);
    }
    return n;
  };
  const naming: PostgresPool = {
    connect: async () => {
      const client = await pool.connect();
      // Transaction control stays unnamed: it carries no parameters and no plan. (The cast:
      // the interface also has a cursor overload, which the hold never uses.)
      const query = ((text: string, values: readonly unknown[]) =>
        /^(begin|commit|rollback|savepoint|release)/i.test(text) ? client.query(text, [...values]) : client.query({ name: nameOf(text), text, values: [...values] })) as unknown as PostgresPoolClient['query'];
      return { release: (destroy?: boolean) => client.release(destroy), query };
    },
    end: () => pool.end(),
  };
  return new Kysely<HoldDatabase>({ dialect: new PostgresDialect({ pool: naming }) });
}

function freePick(q: Db, u: HoldInput) {
  return q
    .selectFrom('compartments as c')
    .innerJoin('lockers as l', 'l.id', 'c.locker_id')
    .where('c.locker_id', '=', u.lockerId)
    .where('c.state', '=', 'free')
    .where('c.size', '=', u.size)
    .where('c.id', '<>', '')
    .where('l.status', '=', 'operating')
    .where((eb) => eb.or([eb('l.offline_since', 'is', null), eb('l.offline_since', '>', u.offlineCutoff)]))
    .orderBy('c.id')
    .limit(1);
}

/** The conditional compartment claim, as the repository's claim SQL does it. */
export function claimQuery(q: Db, engine: KyselyEngine, u: HoldInput) {
  const update = q.updateTable('compartments').set({ state: 'held', reservation_id: u.id, hold_expires_at: u.expiresAt });
  const picked =
    engine === 'sqlite'
      ? update.where('locker_id', '=', u.lockerId).where('id', '=', freePick(q, u).select('c.id'))
      : update.where(({ eb, refTuple }) => eb(refTuple('locker_id', 'id'), '=', freePick(q, u).select(['c.locker_id', 'c.id']).forUpdate(['c']).skipLocked().$asTuple('locker_id', 'id')));
  return picked.where('state', '=', 'free').returning('id');
}

function unitQueries(q: Db, engine: KyselyEngine, u: HoldInput, compartment: string): Compilable[] {
  return [
    q.selectFrom('idempotency').select(['request_hash', 'status_code', 'response_json']).where('scope', '=', SCOPE).where('key', '=', u.key),
    claimQuery(q, engine, u),
    q.insertInto('reservations').values({ id: u.id, order_ref: u.orderRef, locker_id: u.lockerId, size: u.size, compartment_id: compartment, status: 'held', expires_at: u.expiresAt, created_at: u.now, updated_at: u.now }),
    q.insertInto('state_log').values({ entity: 'reservation', entity_id: u.id, from_state: null, to_state: 'held', event: 'reserve', actor: 'checkout', reason: null, at: u.now }),
    q.insertInto('idempotency').values({ scope: SCOPE, key: u.key, request_hash: 'h', status_code: 201, response_json: holdResponse(u, compartment), created_at: u.now }).onConflict((oc) => oc.doNothing()),
  ];
}

interface Queued {
  u: HoldInput;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class KyselyHold {
  private queue: Queued[] = [];
  private flushing = false;

  constructor(
    readonly db: Db,
    readonly engine: KyselyEngine,
  ) {}

  /** One hold through Kysely's transaction API, straight: its own transaction and commit. */
  hold(u: HoldInput): Promise<void> {
    return this.db.transaction().execute((trx) => this.unit(trx, u));
  }

  private async unit(q: Db, u: HoldInput): Promise<void> {
    const existing = await q.selectFrom('idempotency').select(['request_hash', 'status_code', 'response_json']).where('scope', '=', SCOPE).where('key', '=', u.key).executeTakeFirst();
    if (existing !== undefined) throw new Error(`bench keys are fresh, yet ${u.key} was found`);
    const claimed = await claimQuery(q, this.engine, u).executeTakeFirst();
    if (claimed === undefined) throw new NoCapacityError(u);
    await q
      .insertInto('reservations')
      .values({ id: u.id, order_ref: u.orderRef, locker_id: u.lockerId, size: u.size, compartment_id: claimed.id, status: 'held', expires_at: u.expiresAt, created_at: u.now, updated_at: u.now })
      .execute();
    await q.insertInto('state_log').values({ entity: 'reservation', entity_id: u.id, from_state: null, to_state: 'held', event: 'reserve', actor: 'checkout', reason: null, at: u.now }).execute();
    await q
      .insertInto('idempotency')
      .values({ scope: SCOPE, key: u.key, request_hash: 'h', status_code: 201, response_json: holdResponse(u, claimed.id), created_at: u.now })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  /**
   * Not Kysely's own: what group commit costs to add on top of it (measured as an extra
   * figure). Units queued in one event-loop turn share one controlled transaction, each in
   * its own savepoint, and settle after the shared COMMIT, as SqliteExecutor does. Kysely
   * has no ambient transaction, so the unit must take the transaction handle as an argument.
   */
  holdGrouped(u: HoldInput): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ u, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 256);
      const failed = new Map<Queued, unknown>();
      try {
        const trx = await this.db.startTransaction().execute();
        try {
          for (const item of batch) {
            const sp = await trx.savepoint('unit').execute();
            try {
              await this.unit(sp, item.u);
              await sp.releaseSavepoint('unit').execute();
            } catch (err) {
              failed.set(item, err);
              await sp.rollbackToSavepoint('unit').execute();
              await sp.releaseSavepoint('unit').execute();
            }
          }
          await trx.commit().execute();
        } catch (err) {
          await trx.rollback().execute().catch(() => undefined);
          throw err;
        }
      } catch (err) {
        for (const item of batch) item.reject(err);
        continue;
      }
      for (const item of batch) {
        if (failed.has(item)) item.reject(failed.get(item));
        else item.resolve();
      }
    }
    this.flushing = false;
  }

  /** Build + compile only, no I/O: the claim statement alone. */
  compileClaim(u: HoldInput): void {
    claimQuery(this.db, this.engine, u).compile();
  }

  /** Build + compile only: the unit's five statements. */
  compileUnit(u: HoldInput): void {
    for (const q of unitQueries(this.db, this.engine, u, 'C01')) q.compile();
  }

  close(): Promise<void> {
    return this.db.destroy();
  }
}
