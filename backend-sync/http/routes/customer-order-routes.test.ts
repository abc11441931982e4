import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../../auth/api-key-auth.js';
import type { CustomerOrderPage } from '../../orders/customer-orders.js';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { ship } from '../../testing/order-helpers.js';
import type { App } from '../app.js';

// GET /customers/{customerId}/orders through the real app and a real SQLite file: orders
// placed through the service, some with the merchant's customer id, some with an email only.

const keys = { page: 'page-key-0123456789abcdef', merchant: 'merchant-key-0123456789abcdef' };
const auth = (k: string): Record<string, string> => ({ authorization: `Bearer ${k}` });

describe('customer order history', () => {
  let f: BackendFixture;
  let app: App;

  async function place(key: string, customer: { email?: string; customerId?: string }): Promise<string> {
    const { body } = await f.services.orders.place(key, { orderRef: `ref-${key}`, customer: { name: 'Ada', ...customer }, currency: 'EUR', lines: [{ lineId: 'a', sku: 'sku-a', quantity: 1, unitPriceCents: 1500, size: 'M' }], reservationIds: [] });
    f.clock.advance(1000);
    return body.id;
  }

  async function get(url: string, key = keys.page): Promise<{ status: number; body: CustomerOrderPage & { error?: { code: string } } }> {
    const res = await app.inject({ method: 'GET', url, headers: auth(key) });
    return { status: res.statusCode, body: res.json() };
  }

  beforeEach(async () => {
    f = await makeBackend({
      config: {
        auth: {
          apiKeys: [
            { id: 'page', roles: ['customer-page'], sha256: apiKeyDigest(keys.page) },
            { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(keys.merchant) },
          ],
        },
      },
    });
    app = await f.app();
  });
  afterEach(() => f.close());

  it('lists the orders placed under a customer id, newest first, with their shipments', async () => {
    const first = await place('k-1', { email: 'ada@example.org', customerId: 'cust-42' });
    const second = await place('k-2', { email: 'ada@example.org', customerId: 'cust-42' });
    await place('k-3', { email: 'bob@example.org', customerId: 'cust-43' });
    await f.services.lockers.register(lockerInput('lk-a', 52.5, 13.4));
    await f.services.orders.confirmPayment(first, 'test');
    await f.services.orders.startProcessing(first, 'test');
    await ship(f, first, ['a'], 'lk-a', 'M', 'TRK-0001');
    const res = await get('/customers/cust-42/orders');
    expect(res.status).toBe(200);
    expect(res.body.orders.map((o) => o.id)).toEqual([second, first]);
    expect(res.body.orders[1]?.shipments).toEqual([expect.objectContaining({ carrier: 'dhl', trackingNumber: 'TRK-0001', lockerId: 'lk-a' })]);
    expect(res.body.nextCursor).toBeUndefined();
    expect((await get('/customers/cust-42/orders?trackingNumber=TRK-0001')).body.orders.map((o) => o.id)).toEqual([first]);
    // As a customer types it: small letters, spaces around it.
    expect((await get('/customers/cust-42/orders?trackingNumber=%20trk-0001%20')).body.orders.map((o) => o.id)).toEqual([first]);
    expect((await f.services.orders.get(first)).customer.customerId).toBe('cust-42');
  });

  it('falls back to the email, matched case-insensitively, for orders placed without a customer id', async () => {
    const id = await place('k-1', { email: 'Ada.Lovelace@Example.org' });
    expect((await get('/customers/ada.lovelace%40example.org/orders')).body.orders.map((o) => o.id)).toEqual([id]);
    expect((await get('/customers/ADA.LOVELACE@EXAMPLE.ORG/orders')).body.orders.map((o) => o.id)).toEqual([id]);
    expect((await get('/customers/someone-else/orders')).body.orders).toEqual([]);
  });

  it('filters by status, time range and tracking number, and pages with the cursor', async () => {
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await place(`k-${String(i)}`, { customerId: 'cust-1' }));
    await f.services.orders.cancel(ids[1] ?? '', { reason: 'changed mind' }, 'merchant');
    const cancelled = await get('/customers/cust-1/orders?status=cancelled');
    expect(cancelled.body.orders.map((o) => o.id)).toEqual([ids[1]]);
    const created = (await f.services.orders.get(ids[2] ?? '')).createdAt;
    expect((await get(`/customers/cust-1/orders?from=${String(created)}&to=${String(created + 2000)}`)).body.orders.map((o) => o.id)).toEqual([ids[3], ids[2]]);
    const page1 = await get('/customers/cust-1/orders?limit=2');
    expect(page1.body.orders.map((o) => o.id)).toEqual([ids[4], ids[3]]);
    const page2 = await get(`/customers/cust-1/orders?limit=2&after=${page1.body.nextCursor ?? ''}`);
    expect(page2.body.orders.map((o) => o.id)).toEqual([ids[2], ids[1]]);
    const page3 = await get(`/customers/cust-1/orders?limit=2&after=${page2.body.nextCursor ?? ''}`);
    expect(page3.body.orders.map((o) => o.id)).toEqual([ids[0]]);
    expect(page3.body.nextCursor).toBeUndefined();
    expect((await get('/customers/cust-1/orders?trackingNumber=NONE')).body.orders).toEqual([]);
    expect((await get('/customers/cust-1/orders?limit=100')).body.orders).toHaveLength(5);
  });

  it('refuses a cursor it did not issue, an unknown status and a merchant key', async () => {
    const bad = await get('/customers/cust-1/orders?after=not-a-cursor');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('INVALID_INPUT');
    expect((await get('/customers/cust-1/orders?status=lost')).status).toBe(400);
    // An empty field, a space, hex, or a range that ends before it starts: a reason, not "no orders".
    for (const q of ['to=', 'from=', 'to=%20', 'from=0x10', 'limit=%20%201', 'limit=0', 'from=2000&to=1000', 'from=5&to=5']) {
      const r = await get(`/customers/cust-1/orders?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.error?.code, q).toBe('INVALID_INPUT');
    }
    expect((await get('/customers/cust-1/orders', keys.merchant)).status).toBe(403);
  });
});
