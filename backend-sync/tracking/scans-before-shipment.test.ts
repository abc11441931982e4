import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { sql } from '../store/sql/sql-text.js';
import { acceptAndApply, noticesOf, scanAt } from '../testing/backend-tracking.js';
import { testEngines } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';
import { carrierPromiseEta } from './eta-seam.js';
import { rebuildTracking } from './rebuild-tracking.js';

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

  const at = (m: number): number => scanAt(f, m);
  const send = (events: CanonicalTrackingEvent[]): Promise<void> => acceptAndApply(f, events);

  it('a parcel already out for delivery: the shipment starts out for delivery, each step told once', async () => {
    await send([scan('EARLY-1', 'picked_up', at(0)), scan('EARLY-1', 'out_for_delivery', at(60))]);
    const o = await paidOrder(f, 'ord-early', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EARLY-1');
    expect(s.state).toBe('out_for_delivery');
    expect((await f.services.orders.get(o.id)).state).toBe('out_for_delivery');
    expect((await f.store.stateLog.list('shipment', s.id)).map((e) => e.to)).toEqual(['created', 'shipped', 'out_for_delivery']);
    expect(await noticesOf(f, 'shipment.shipped', s.id)).toHaveLength(1);
    expect(await noticesOf(f, 'shipment.out_for_delivery', s.id)).toHaveLength(1);
    // The next scan moves nothing twice.
    await send([scan('EARLY-1', 'out_for_delivery', at(90), { carrierStatus: 'ON VAN' })]);
    expect(await noticesOf(f, 'shipment.out_for_delivery', s.id)).toHaveLength(1);
    // And the locker's deposit carries on from there.
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    expect((await f.services.shipments.get(s.id)).state).toBe('delivered');
  });

  it('a parcel stuck before the shipment existed: the customer is told once', async () => {
    await send([scan('EARLY-2', 'in_transit', at(0)), scan('EARLY-2', 'exception', at(30), { carrierReason: 'damaged' })]);
    const o = await paidOrder(f, 'ord-stuck', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EARLY-2');
    expect(s.state).toBe('shipped');
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(1);
    // More scans of the same trouble tell nothing new.
    await send([scan('EARLY-2', 'exception', at(40), { carrierReason: 'still damaged' })]);
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(1);
  });

  it('a parcel the carrier already sent back: the compartment is not held for it and the code is withdrawn', async () => {
    await send([scan('EARLY-3', 'picked_up', at(0)), scan('EARLY-3', 'returned_to_sender', at(120))]);
    const o = await paidOrder(f, 'ord-back', [{ lineId: 'l1', size: 'M', unitPriceCents: 900 }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EARLY-3');
    expect(s.state).toBe('returned_to_sender');
    expect((await f.services.orders.get(o.id)).state).toBe('returned');
    expect((await f.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
    expect(await f.store.codeSets.liveEntries('lk-a')).toEqual([]);
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(1);
  });

  it("the number keeps the scans' carrier, not the merchant's spelling, and the rebuild agrees", async () => {
    const o = await paidOrder(f, 'ord-carrier', [{ lineId: 'l1', size: 'M' }]);
    await f.services.shipments.create(o.id, { lineIds: ['l1'], carrier: 'DHL Express', trackingNumber: 'JD0001', delivery: { lockerId: 'lk-a', size: 'M' } }, 'merchant');
    await send([scan('JD0001', 'picked_up', at(0), { carrier: 'dhl' })]);
    expect((await f.store.tracking.projection('JD0001'))?.projection.carrier).toBe('dhl');
    // The column an operator's SQL reads says the same.
    expect(await f.store.x.one(sql(`SELECT carrier FROM tracking_state WHERE tracking_number = 'JD0001'`))).toEqual({ carrier: 'dhl' });
    expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
  });

  it("a number the carrier reuses months later: the new shipment does not take the old parcel's past", async () => {
    const old = await paidOrder(f, 'ord-old', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, old.id, ['l1'], 'lk-a', 'M', '1Z999');
    await send([scan('1Z999', 'picked_up', f.clock.now() - 120_000), scan('1Z999', 'returned_to_sender', f.clock.now() - 60_000)]);
    f.clock.advance(200 * 86_400_000);
    const o = await paidOrder(f, 'ord-new', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1Z999');
    expect(s.state).toBe('created');
    expect((await f.store.notifications.list({})).filter((n) => n.payload['orderId'] === o.id).map((n) => n.kind)).not.toContain('shipment.returned_to_sender');
  });

  it('a second parcel under a number already stuck: the trouble is not told again under a later start', async () => {
    const o = await paidOrder(f, 'ord-two', [
      { lineId: 'l1', size: 'M' },
      { lineId: 'l2', size: 'M' },
    ]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'MP-1');
    const t0 = f.clock.now() - 48 * 3_600_000;
    await send([scan('MP-1', 'in_transit', t0)]);
    await send([scan('MP-1', 'exception', t0 + 10 * 60_000, { carrierStatus: 'CUSTOMS HOLD 0' })]);
    // More scans of the trouble than the projection keeps.
    for (let d = 1; d <= 12; d++) await send([scan('MP-1', 'exception', t0 + (10 + d * 100) * 60_000, { carrierStatus: `CUSTOMS HOLD ${String(d)}` })]);
    expect(await f.store.notifications.list({ kind: 'tracking.exception' })).toHaveLength(1);
    const second = await ship(f, o.id, ['l2'], 'lk-a', 'M', 'MP-1');
    expect(second.state).toBe('shipped');
    expect(await f.store.notifications.list({ kind: 'tracking.exception' })).toHaveLength(1);
  });

  it('a number nobody scanned yet: the shipment is created as before', async () => {
    const o = await paidOrder(f, 'ord-plain', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'FRESH-1');
    expect(s.state).toBe('created');
    await send([scan('FRESH-1', 'picked_up', at(0))]);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    expect(await noticesOf(f, 'shipment.shipped', s.id)).toHaveLength(1);
  });
});
