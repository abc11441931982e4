import type { BackendConfig, SqliteCheckpoint } from '../config/config.js';
import type { Logger } from '../shared/logger.js';
import { PG_SCHEMA_VERSION, migratePg, pgSchemaVersion } from './postgres/pg-migrations.js';
import { requireCurrentSchema } from './schema-version.js';
import { PgExecutor } from './postgres/pg-executor.js';
import { SqlStore } from './sql-store.js';
import { openSqlite } from './sqlite/open-sqlite.js';
import { BackgroundCheckpointer } from './sqlite/background-checkpointer.js';
import { SqliteExecutor } from './sqlite/sqlite-executor.js';

// Chooses the engine from configuration: PostgreSQL when db.url is set (production, any
// number of instances), else the embedded SQLite file (npm start, tests, a pilot). Both
// are migrated before the store is handed out, and both refuse a newer schema.

/** The embedded store on one SQLite file (migrated). `checkpoint: 'background'` copies the
 * WAL back from a worker thread (production); 'inline' leaves it to SQLite's automatic
 * checkpoint in the writer (tests that open many short-lived stores). */
export function openSqliteStore(path: string, logger: Logger, o: { checkpoint?: SqliteCheckpoint; existing?: boolean } = {}): SqlStore {
  const db = openSqlite({ path, logger, ...(o.existing === undefined ? {} : { existing: o.existing }) });
  const checkpointer = o.checkpoint === 'background' ? new BackgroundCheckpointer({ db, logger }) : undefined;
  return new SqlStore(new SqliteExecutor(db, undefined, checkpointer));
}

export interface PgStoreOptions {
  url: string;
  schema?: string | undefined;
  poolSize?: number | undefined;
  applicationName?: string | undefined;
  connectTimeoutMs?: number | undefined;
  queryTimeoutMs?: number | undefined;
  idleInTransactionTimeoutMs?: number | undefined;
  /** A maintenance tool's open: the schema must be at this code's version; nothing is created or migrated. */
  existing?: boolean | undefined;
}

/** A store on PostgreSQL (migrated; the schema is created if missing). */
export async function openPgStore(o: PgStoreOptions, logger: Logger): Promise<SqlStore> {
  const x = new PgExecutor(o);
  const log = logger.child({ component: 'db' });
  try {
    const client = await x.pool.connect();
    // A session ended by the server between two migration statements fails the next one
    // (and with it the start, logged); unheard, it would be an uncaught exception.
    const ended = (): void => undefined;
    client.on('error', ended);
    let exempt = false;
    try {
      if (o.existing === true) requireCurrentSchema(await pgSchemaVersion(client), PG_SCHEMA_VERSION);
      else {
        // Migrations are not bound by db.idleInTransactionTimeoutMs (as not by queryTimeoutMs):
        // a code step computes in JS between two statements of its transaction (history
        // hashes over every small-letter row), which on a large estate may outlast it, and
        // the server would then end the migration on every start, for good. No other
        // instance serves meanwhile: they wait for the migration lock.
        exempt = true;
        await client.query('SET idle_in_transaction_session_timeout = 0');
        await migratePg(client, { schema: o.schema, log });
      }
    } finally {
      client.removeListener('error', ended);
      // The exempt session is not pooled: every session that serves keeps the bound.
      client.release(exempt);
    }
  } catch (err) {
    await x.close();
    throw err;
  }
  log.info({ engine: 'postgres', schema: o.schema ?? 'public' }, 'db.opened');
  return new SqlStore(x);
}

/** `existing`: a maintenance tool's open (see PgStoreOptions.existing, OpenSqliteOptions.existing). */
export async function openStore(db: BackendConfig['db'], logger: Logger, o: { existing?: boolean } = {}): Promise<SqlStore> {
  if (db.url !== undefined) return openPgStore({ url: db.url, schema: db.schema, poolSize: db.poolSize, applicationName: db.applicationName, connectTimeoutMs: db.connectTimeoutMs, queryTimeoutMs: db.queryTimeoutMs, idleInTransactionTimeoutMs: db.idleInTransactionTimeoutMs, existing: o.existing }, logger);
  return openSqliteStore(db.path, logger, { checkpoint: db.checkpoint, ...(o.existing === undefined ? {} : { existing: o.existing }) });
}
