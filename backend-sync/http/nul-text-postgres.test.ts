import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import { encodeCursor } from '../orders/customer-orders.js';
import type { App } from './app.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { dropSchema, freshSchemaName, pgSuitesRun } from '../testing/pg-test-db.js';

// PostgreSQL text cannot hold U+0000; SQLite can. A NUL in a path or query value must be a 400
// (or a plain miss), never a 500 from the database driver.
const runs = await pgSuitesRun('NUL in inputs on PostgreSQL');
const admin = 'admin-key-0123456789abcdef';
const merchant = 'merchant-key-0123456789abcdef';

describe.skipIf(!runs)('NUL characters in ids, filters and bodies (PostgreSQL)', () => {
  let f: BackendFixture;
  let app: App;
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });
  beforeEach(async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    f = await makeBackend({
      engine: 'postgres',
      pgSchema: schema,
      config: { auth: { apiKeys: [{ id: 'adm', roles: ['admin'], sha256: apiKeyDigest(admin) }, { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(merchant) }] } },
    });
    app = await f.app();
  });
  afterEach(() => f.close());

  it('answers 4xx, not 500, for a NUL in the customer id, the tracking-number filter, the cursor and an order id', async () => {
    const urls: Array<[string, string]> = [
      [admin, '/customers/cust%001/orders'],
      [admin, '/customers/cust-1/orders?trackingNumber=TRK%001'],
      [admin, `/customers/cust-1/orders?after=${encodeCursor(1, 'ord_\u0000x')}`],
      [merchant, '/orders/ord_%00x'],
      [merchant, '/shipments/shp_%00x'],
    ];
    const statuses: Record<string, number> = {};
    for (const [key, url] of urls) statuses[url] = (await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } })).statusCode;
    // A body field: a SKU as a shop front might pass it through.
    statuses['POST /orders sku="a\\u0000"'] = (
      await app.inject({
        method: 'POST',
        url: '/orders',
        headers: { authorization: `Bearer ${merchant}`, 'idempotency-key': 'nul-order-key-01' },
        payload: { orderRef: 'ref-nul', customer: { name: 'Ada', email: 'ada@example.com' }, currency: 'EUR', lines: [{ lineId: 'l1', sku: 'a\u0000', quantity: 1, unitPriceCents: 100, size: 'M' }] },
      })
    ).statusCode;
    expect(Object.entries(statuses).filter(([, status]) => status >= 500)).toEqual([]);
    // The body's NUL is named: the statement refused it and nothing was stored.
    expect(statuses['POST /orders sku="a\\u0000"']).toBe(400);
  });
});
