import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';

// The carrier's scans can come before the merchant records the shipment that carries the
// number (a webhook subscribed at label time, the shipment posted later). The milestones
// they reached are the shipment's too, as soon as it exists: before, they were looked at
// only when the number's projection moved, so a parcel that was already out for delivery,
// stuck or on its way back stayed "created" until another scan came, or for good.

const engines = await testEngines('scans before the shipment');

describe.each(engines)('scans that came before their shipment, on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  const at = (m: number): number => f.clock.now() - 10 * 3_600_000 + m * 60_000;
  const send = async (events: CanonicalTrackingEvent[]): Promise<void> => {
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, events);
    await f.services.tracking.applier.drain();
  };
  const noticesOf = async (kind: string, shipmentId: string) => (await f.store.notifications.list({ kind })).filter((n) => n.payload['shipmentId'] === shipmentId);

  it('a parcel already out for delivery: the shipment starts out for delivery, each step told once', async () => {
    await send([scan('EARLY-1', 'picked_up', at(0)), scan('EARLY-1', 'out_for_delivery', at(60))]);
    const o = await paidOrder(f, 'ord-early', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EARLY-1');
    expect(s.state).toBe('out_for_delivery');
    expect((await f.services.orders.get(o.id)).state).toBe('out_for_delivery');
    expect((await f.store.stateLog.list('shipment', s.id)).map((e) => e.to)).toEqual(['created', 'shipped', 'out_for_delivery']);
    expect(await noticesOf('shipment.shipped', s.id)).toHaveLength(1);
    expect(await noticesOf('shipment.out_for_delivery', s.id)).toHaveLength(1);
    // The next scan moves nothing twice.
    await send([scan('EARLY-1', 'out_for_delivery', at(90), { carrierStatus: 'ON VAN' })]);
    expect(await noticesOf('shipment.out_for_delivery', s.id)).toHaveLength(1);
    // And the locker's deposit carries on from there.
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    expect((await f.services.shipments.get(s.id)).state).toBe('delivered');
  });

  it('a parcel stuck before the shipment existed: the customer is told once', async () => {
    await send([scan('EARLY-2', 'in_transit', at(0)), scan('EARLY-2', 'exception', at(30), { carrierReason: 'damaged' })]);
    const o = await paidOrder(f, 'ord-stuck', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EARLY-2');
    expect(s.state).toBe('shipped');
    expect(await noticesOf('tracking.exception', s.id)).toHaveLength(1);
    // More scans of the same trouble tell nothing new.
    await send([scan('EARLY-2', 'exception', at(40), { carrierReason: 'still damaged' })]);
    expect(await noticesOf('tracking.exception', s.id)).toHaveLength(1);
  });

  it('a parcel the carrier already sent back: the compartment is not held for it and the code is withdrawn', async () => {
    await send([scan('EARLY-3', 'picked_up', at(0)), scan('EARLY-3', 'returned_to_sender', at(120))]);
    const o = await paidOrder(f, 'ord-back', [{ lineId: 'l1', size: 'M', unitPriceCents: 900 }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EARLY-3');
    expect(s.state).toBe('returned_to_sender');
    expect((await f.services.orders.get(o.id)).state).toBe('returned');
    expect((await f.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
    expect(await f.store.codeSets.liveEntries('lk-a')).toEqual([]);
    expect(await noticesOf('shipment.returned_to_sender', s.id)).toHaveLength(1);
  });

  it('a number nobody scanned yet: the shipment is created as before', async () => {
    const o = await paidOrder(f, 'ord-plain', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'FRESH-1');
    expect(s.state).toBe('created');
    await send([scan('FRESH-1', 'picked_up', at(0))]);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    expect(await noticesOf('shipment.shipped', s.id)).toHaveLength(1);
  });
});
