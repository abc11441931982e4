import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import type { CustomerOrdersPage } from './customer-orders.js';

// GET /orders?email=…: a customer's orders newest first, filtered by state and creation
// date, searched by tracking number, paged by cursor, each shipment with its tracking status.

const engines = await testEngines('customer order history');

describe.each(engines)('customer order history on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 5 }));
  });
  afterEach(() => f.close());

  async function order(key: string, email: string, shipWith?: string): Promise<string> {
    const { body } = await f.services.orders.place(key, { orderRef: `ref-${key}`, customer: { name: 'Ada', email }, currency: 'EUR', lines: [{ lineId: 'l1', sku: 's', quantity: 1, unitPriceCents: 700, size: 'M' }], reservationIds: [] });
    if (shipWith !== undefined) {
      await f.services.orders.confirmPayment(body.id, 'test');
      await f.services.orders.startProcessing(body.id, 'test');
      await f.services.shipments.create(body.id, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: shipWith, delivery: { lockerId: 'lk-a', size: 'M' } }, 'test');
    }
    f.clock.advance(60_000);
    return body.id;
  }

  const get = async (query: string): Promise<CustomerOrdersPage> => {
    const res = await (await f.app()).inject({ method: 'GET', url: `/orders?${query}` });
    expect(res.statusCode).toBe(200);
    return res.json<CustomerOrdersPage>();
  };

  it('lists one customer’s orders newest first, filters them, finds one by tracking number and pages through them', async () => {
    const t0 = f.clock.now();
    const first = await order('co-1', 'Ada@Example.org', 'CO-TN-1');
    const second = await order('co-2', 'ada@example.org');
    const third = await order('co-3', 'ada@example.org', 'CO-TN-3');
    await order('co-x', 'bo@example.org');
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [scan('CO-TN-1', 'in_transit', t0, { carrier: 'dhl' })]);
    await f.services.tracking.applier.drain();

    const all = await get('email=ADA%40example.org');
    expect(all.orders.map((o) => o.orderId)).toEqual([third, second, first]);
    expect(all.orders[2]?.shipments).toEqual([expect.objectContaining({ trackingNumber: 'CO-TN-1', state: 'shipped', trackingStatus: 'in_transit' })]);
    expect(all.orders[0]?.shipments[0]?.trackingStatus).toBeNull();
    expect((await get('email=ada%40example.org&status=placed')).orders.map((o) => o.orderId)).toEqual([second]);
    expect((await get(`email=ada%40example.org&from=${String(t0 + 60_000)}&to=${String(t0 + 120_000)}`)).orders.map((o) => o.orderId)).toEqual([second]);
    expect((await get('email=ada%40example.org&trackingNumber=CO-TN-3')).orders.map((o) => o.orderId)).toEqual([third]);
    const page1 = await get('email=ada%40example.org&limit=2');
    expect(page1.orders.map((o) => o.orderId)).toEqual([third, second]);
    const page2 = await get(`email=ada%40example.org&limit=2&after=${String(page1.next)}`);
    expect(page2.orders.map((o) => o.orderId)).toEqual([first]);
    expect(page2.next).toBeUndefined();
    expect((await (await f.app()).inject({ method: 'GET', url: '/orders?email=not-an-email' })).statusCode).toBe(400);
  });
});
