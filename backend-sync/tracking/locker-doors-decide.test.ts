import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { acceptAndApply, noticesOf, scanAt } from '../testing/backend-tracking.js';
import { scan } from '../testing/tracking-helpers.js';

// One timeline joins carrier scans and our lockers' doors (docs/backend.md, "Tracking"). Once a
// locker took the parcel in, its doors decide: a carrier's late exception or return scan of a
// parcel in a compartment is kept for review, never told to the customer, never applied, and
// never returns another shipment under the number.
describe('a parcel in one of our lockers', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  it('a carrier exception stamped after the locker deposit does not tell the customer of trouble', async () => {
    const o = await paidOrder(f, 'ord-exc-locker', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EXCLK-1');
    await acceptAndApply(f, [scan('EXCLK-1', 'in_transit', scanAt(f, 0)), scan('EXCLK-1', 'out_for_delivery', scanAt(f, 60))]);
    expect(await f.services.parcels.deposited(s.id, 'lk-a', undefined, scanAt(f, 120), { actor: 'locker' })).toBe('applied');
    await f.services.tracking.applier.drain();
    expect(await noticesOf(f, 'parcel.ready_for_pickup', s.id)).toHaveLength(1);
    // The courier's handheld syncs a "locker full" exception stamped a few minutes after the door event.
    await acceptAndApply(f, [scan('EXCLK-1', 'exception', scanAt(f, 125), { carrierReason: 'locker full' })]);
    expect((await f.services.shipments.get(s.id)).state).toBe('delivered');
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(0);
  });

  it('takes the parcel in when the carrier reported the locker drop seconds before the door event', async () => {
    const o = await paidOrder(f, 'ord-drop-first', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'DROP-1');
    await acceptAndApply(f, [scan('DROP-1', 'out_for_delivery', scanAt(f, 0)), scan('DROP-1', 'available_for_pickup', scanAt(f, 119.5), { lockerId: 'lk-a' })]);
    expect(await f.services.parcels.deposited(s.id, 'lk-a', undefined, scanAt(f, 120), { actor: 'locker' })).toBe('applied');
    await f.services.tracking.applier.drain();
    await acceptAndApply(f, [scan('DROP-1', 'exception', scanAt(f, 125), { carrierReason: 'locker full' })]);
    const p = (await f.store.tracking.projection('DROP-1'))?.projection;
    expect({ status: p?.status, inLocker: p?.inLocker, exceptionNotices: (await noticesOf(f, 'tracking.exception', s.id)).length }).toEqual({ status: 'available_for_pickup', inLocker: true, exceptionNotices: 0 });
  });

  it('carrier scans after the locker deposit never move the timeline back from available_for_pickup to in_transit', async () => {
    const o = await paidOrder(f, 'ord-exc-locker2', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EXCLK-2');
    await acceptAndApply(f, [scan('EXCLK-2', 'in_transit', scanAt(f, 0)), scan('EXCLK-2', 'out_for_delivery', scanAt(f, 60))]);
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, scanAt(f, 120), { actor: 'locker' });
    await f.services.tracking.applier.drain();
    await acceptAndApply(f, [scan('EXCLK-2', 'exception', scanAt(f, 125)), scan('EXCLK-2', 'in_transit', scanAt(f, 130))]);
    const p = (await f.store.tracking.projection('EXCLK-2'))?.projection;
    // A direct in_transit after available_for_pickup is refused as a step back; via an exception it is accepted.
    expect(p?.status).toBe('available_for_pickup');
  });

  it('a carrier return-to-sender scan after the locker deposit does not swallow the customer collection on the timeline', async () => {
    const o = await paidOrder(f, 'ord-rts-then-collect', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTSC-1');
    await acceptAndApply(f, [scan('RTSC-1', 'out_for_delivery', scanAt(f, 0))]);
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, scanAt(f, 60), { actor: 'locker' });
    await f.services.tracking.applier.drain();
    // An erroneous carrier return scan (ignored for the shipment: it is in the locker).
    await acceptAndApply(f, [scan('RTSC-1', 'returned_to_sender', scanAt(f, 90))]);
    expect((await f.services.shipments.get(s.id)).state).toBe('delivered');
    // The customer collects it with the code.
    expect(await f.services.parcels.collected(s.id, 'lk-a', { actor: 'locker' }, scanAt(f, 120))).toBe('applied');
    await f.services.tracking.applier.drain();
    expect((await f.services.shipments.get(s.id)).state).toBe('collected');
    expect((await f.services.orders.get(o.id)).state).toBe('collected');
    const app = await f.app();
    const page = (await app.inject({ method: 'GET', url: '/track/RTSC-1' })).json<{ status: string }>();
    // GET /track must agree with the doors: collected, not "returned to sender".
    expect(page.status).toBe('collected');
  });

  it('the locker expiry of one parcel does not return, revoke and refund its sibling under the same tracking number', async () => {
    await f.services.lockers.register(lockerInput('lk-b', 52.5, 13.4, { M: 2 }));
    const o = await paidOrder(f, 'ord-shared-number', [
      { lineId: 'l1', size: 'M', unitPriceCents: 1000 },
      { lineId: 'l2', size: 'M', unitPriceCents: 2000 },
    ]);
    // One multi-piece consignment under one number (the code allows it: cancelShipment speaks of
    // "a split order's parcels under one number"), the two pieces to two lockers.
    const a = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'SHARED-1');
    const b = await ship(f, o.id, ['l2'], 'lk-b', 'M', 'SHARED-1');
    await acceptAndApply(f, [scan('SHARED-1', 'in_transit', scanAt(f, 0))]);
    expect((await f.services.shipments.get(b.id)).state).toBe('shipped');
    await f.services.parcels.deposited(a.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.tracking.applier.drain();
    // Piece A is never collected: its pickup window lapses. Piece B is still on its way.
    const deadline = (await f.services.shipments.get(a.id)).pickupDeadline as number;
    f.clock.advance(deadline - f.clock.now() + 60_000);
    expect(await f.services.parcels.expireDue()).toBe(1);
    await f.services.tracking.applier.drain();
    expect((await f.services.shipments.get(a.id)).state).toBe('expired');
    // B was never returned by anybody: it must still be on its way, its code live, not refunded.
    expect((await f.services.shipments.get(b.id)).state).toBe('shipped');
    expect(await noticesOf(f, 'shipment.returned_to_sender', b.id)).toHaveLength(0);
    expect(await f.store.refunds.byOrder(o.id)).toEqual([]);
  });

  it('a cancelled shipment whose label the carrier still scans does not send the customer trouble notices', async () => {
    const o = await paidOrder(f, 'ord-cancel-exc', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'CANX-1');
    const cancelled = await f.services.orders.cancel(o.id, { reason: 'changed my mind' }, 'customer');
    expect(cancelled.state).toBe('cancelled');
    expect((await f.services.shipments.get(s.id)).state).toBe('cancelled');
    // The label had been printed: the carrier reports it, then that no parcel was tendered.
    await acceptAndApply(f, [scan('CANX-1', 'label_created', scanAt(f, 0)), scan('CANX-1', 'exception', scanAt(f, 60), { carrierReason: 'shipment not received' })]);
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(0);
  });
});
