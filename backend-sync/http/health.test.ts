import { afterEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { dropSchema, freshSchemaName, testEngines } from '../testing/pg-test-db.js';

// GET /health asks the database, on either engine: a load balancer must see an instance
// whose database is gone (docs/operations.md, "PostgreSQL outage"). The PostgreSQL outage
// itself, server stopped and started under a running backend, is store/postgres/pg-outage.test.ts.

const engines = await testEngines('/health database probe');

describe.each(engines)('GET /health on %s', (engine) => {
  let f: BackendFixture;
  // The schema is the test's, so it is dropped even though the store was closed before the fixture.
  const schema = freshSchemaName();
  afterEach(async () => {
    await f.close().catch(() => undefined);
    if (engine === 'postgres') await dropSchema(schema);
  });

  it('reports the database ok while it answers, and 503 unavailable once it cannot be reached', async () => {
    f = await makeBackend(engine === 'postgres' ? { engine, pgSchema: schema } : { engine });
    const app = await f.app();
    const up = await app.inject({ method: 'GET', url: '/health' });
    expect(up.statusCode).toBe(200);
    expect(up.json()).toMatchObject({ status: 'ok', db: 'ok' });

    await f.store.close();
    const down = await app.inject({ method: 'GET', url: '/health' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: 'unavailable', db: 'unavailable' });
  });
});
