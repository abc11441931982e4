import { afterEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { dropSchema, freshSchemaName, testEngines } from '../testing/pg-test-db.js';
import { signal } from '../testing/signal.js';
import { waitFor } from '../testing/wait-for.js';
import type { PgExecutor } from '../store/postgres/pg-executor.js';

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

  it('reports the database ok while every connection is busy: a load burst is no outage', async () => {
    f = await makeBackend(engine === 'postgres' ? { engine, pgSchema: schema } : { engine });
    const app = await f.app();
    // Every pooled connection (SQLite: the one connection) held by a transaction, as under a
    // burst of requests. A probe that queued behind them would time out and take every
    // instance out of the load balancer at once, for load rather than an outage.
    const busy = engine === 'postgres' ? ((f.store.x as PgExecutor).pool.options.max ?? 10) : 1;
    const release = signal();
    let entered = 0;
    const holders = Array.from({ length: busy }, () =>
      f.store.transaction(async () => {
        await f.store.lockers.gate('lk-none');
        entered++;
        await release.wait;
      }),
    );
    try {
      await waitFor(() => entered === busy, 'every connection to be held by a transaction');
      const res = await app.inject({ method: 'GET', url: '/health' });
      expect(res.json()).toMatchObject({ db: 'ok' });
      expect(res.statusCode).toBe(200);
      // However many health checks arrive at once, one statement is in flight.
      const [a, b] = [f.store.ping(), f.store.ping()];
      if (engine === 'postgres') expect(a).toBe(b);
      await Promise.all([a, b]);
    } finally {
      release.fire();
      await Promise.all(holders);
    }
  });
});
