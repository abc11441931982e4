import { randomBytes } from 'node:crypto';
import { silentLogger } from '../shared/logger.js';
import { migratePg } from '../store/postgres/pg-migrations.js';
import { PgExecutor } from '../store/postgres/pg-executor.js';
import type { SqlExecutor } from '../store/sql/sql-executor.js';
import { openSqlite } from '../store/sqlite/open-sqlite.js';
import { SqliteExecutor } from '../store/sqlite/sqlite-executor.js';
import { dropSchema, freshSchemaName, PG_URL, testApplicationName, type EngineName } from './pg-test-db.js';

// A migrated executor of either engine, for repository contract suites that construct one
// repository at a time. dispose() closes it and removes the file or the schema.

export async function openTestExecutor(engine: EngineName, dir: string): Promise<{ x: SqlExecutor; schema?: string; dispose(): Promise<void> }> {
  if (engine === 'sqlite') {
    const x = new SqliteExecutor(openSqlite({ path: `${dir}/repo-${randomBytes(4).toString('hex')}.db`, logger: silentLogger() }));
    return { x, dispose: () => x.close() };
  }
  const schema = freshSchemaName();
  const x = new PgExecutor({ url: PG_URL, schema, poolSize: 8, applicationName: testApplicationName(schema) });
  const client = await x.pool.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await migratePg(client);
  } finally {
    client.release();
  }
  return {
    x,
    schema,
    dispose: async () => {
      await x.close();
      await dropSchema(schema);
    },
  };
}
