import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { dropSchema, freshSchemaName, PG_URL, pgSuitesRun } from '../../testing/pg-test-db.js';
import { openPgStore } from '../open-store.js';
import { PG_SCHEMA_VERSION } from './pg-migrations.js';

const runs = await pgSuitesRun('PostgreSQL migrations');
const schemas: string[] = [];
afterEach(async () => {
  for (const s of schemas.splice(0)) await dropSchema(s);
});

describe.skipIf(!runs)('PostgreSQL migrations', () => {
  it('three instances starting at once migrate the schema exactly once', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const stores = await Promise.all([1, 2, 3].map(() => openPgStore({ url: PG_URL, schema, poolSize: 2 }, silentLogger())));
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
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
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    await client.query('UPDATE schema_version SET version = version + 1');
    await client.end();
    await expect(openPgStore({ url: PG_URL, schema, poolSize: 1 }, silentLogger())).rejects.toMatchObject({ code: 'DB_TOO_NEW' });
  });
});
