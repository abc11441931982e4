import { randomBytes } from 'node:crypto';
import { silentLogger, type Logger } from '../shared/logger.js';
import { openPgStore, openSqliteStore } from '../store/open-store.js';
import type { SqlStore } from '../store/sql-store.js';
import { dropSchema, freshSchemaName, PG_URL, testApplicationName, type EngineName } from './pg-test-db.js';

// Whole stores of either engine for tests; PostgreSQL ones live in a fresh schema that
// dispose() drops.

export interface TestPgStore {
  store: SqlStore;
  schema: string;
  /** Closes the store and drops its schema. */
  dispose(): Promise<void>;
}

/** A migrated store in a fresh schema of the test server (or of `url`, a private cluster's) (its connections' application_name names the schema, so a test can find its own among other files' in pg_stat_activity). */
export async function openTestPgStore(o: { logger?: Logger; poolSize?: number; schema?: string; url?: string; connectTimeoutMs?: number; queryTimeoutMs?: number } = {}): Promise<TestPgStore> {
  const schema = o.schema ?? freshSchemaName();
  const url = o.url ?? PG_URL;
  const store = await openPgStore({ url, schema, poolSize: o.poolSize ?? 8, applicationName: testApplicationName(schema), connectTimeoutMs: o.connectTimeoutMs, queryTimeoutMs: o.queryTimeoutMs }, o.logger ?? silentLogger());
  return {
    store,
    schema,
    dispose: async () => {
      await store.close();
      await dropSchema(schema, url);
    },
  };
}

/** A fresh migrated store of the given engine; dispose() removes every trace of it. */
export async function openTestStore(engine: EngineName, dir: string, o: { logger?: Logger } = {}): Promise<{ store: SqlStore; dispose(): Promise<void> }> {
  if (engine === 'postgres') return openTestPgStore(o);
  const store = openSqliteStore(`${dir}/store-${randomBytes(4).toString('hex')}.db`, o.logger ?? silentLogger());
  return { store, dispose: () => store.close() };
}
