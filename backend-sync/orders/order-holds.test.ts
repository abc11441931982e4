import { afterEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';

// An order holds one compartment per checkout hold. When nothing of it is left to ship
// (shipped in fewer parcels than holds, or its last unshipped lines cancelled), a hold
// still confirmed used to keep its compartment reserved for ever.

const engines = await testEngines('spare order holds');

describe.each(engines)("an order's unused holds on %s", (engine) => {
  let f: BackendFixture;
  afterEach(() => f.close());

  /** A paid order in processing with two M lines and two confirmed holds on lk-a. */
  async function orderWithTwoHolds(key: string): Promise<{ orderId: string; holds: string[] }> {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 3 }));
    const holds: string[] = [];
    for (const n of ['1', '2']) holds.push((await f.services.reservations.reserve(`${key}-hold-${n}`, { orderRef: `ref-${key}`, lockerId: 'lk-a', size: 'M' })).body.id);
    const { body: o } = await f.services.orders.place(key, {
      orderRef: `ref-${key}`,
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: ['l1', 'l2'].map((lineId) => ({ lineId, sku: `sku-${lineId}`, quantity: 1, unitPriceCents: 1000, size: 'M' as const })),
      reservationIds: holds,
    });
    await f.services.orders.confirmPayment(o.id, 'test');
    await f.services.orders.startProcessing(o.id, 'test');
    return { orderId: o.id, holds };
  }

  const reserved = async (): Promise<string[]> => (await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state !== 'free').map((c) => c.id);

  it('releases the hold no parcel used when the order ships in fewer parcels than holds', async () => {
    const { orderId, holds } = await orderWithTwoHolds('ord-holds-ship');
    const s = await f.services.shipments.create(orderId, { lineIds: ['l1', 'l2'], carrier: 'dhl', trackingNumber: 'HOLDS-1', delivery: { reservationId: holds[0]! } }, 'warehouse');
    expect((await f.services.reservations.get(holds[1]!)).status).toBe('released');
    expect(await reserved()).toEqual([s.compartmentId]);
    expect((await f.store.stateLog.list('reservation', holds[1]!)).at(-1)).toMatchObject({ from: 'confirmed', to: 'released', actor: 'warehouse' });
  });

  it('keeps a hold while a line is still to ship, and releases it when that line is cancelled', async () => {
    const { orderId, holds } = await orderWithTwoHolds('ord-holds-cancel');
    await f.services.shipments.create(orderId, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: 'HOLDS-2', delivery: { reservationId: holds[0]! } }, 'warehouse');
    expect((await f.services.reservations.get(holds[1]!)).status).toBe('confirmed');
    await f.services.orders.cancel(orderId, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    expect((await f.services.orders.get(orderId)).state).not.toBe('cancelled');
    expect((await f.services.reservations.get(holds[1]!)).status).toBe('released');
    expect(await reserved()).toHaveLength(1);
  });
});
