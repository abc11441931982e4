import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { acceptAndApply, noticesOf } from '../testing/backend-tracking.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import { REUSED_NUMBER_GAP_MS } from './core/tracking-fold.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';
import { carrierPromiseEta } from './eta-seam.js';
import { rebuildTracking } from './rebuild-tracking.js';

// Carriers recycle tracking numbers: months after a parcel's journey ended, another parcel
// travels under the same number. Before, its scans were steps backwards from the old
// parcel's end (flagged for review, never applied): the new shipment never moved, its
// customer was never told, and GET /track showed the old parcel's journey to them.

const engines = await testEngines('reused tracking number');
const DAY = 86_400_000;

describe.each(engines)('a tracking number the carrier reuses, on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  const track = async (tn: string) =>
    (await (await f.app()).inject({ method: 'GET', url: `/track/${tn}` })).json<{ status: string; history: Array<{ status: string; eventTime: number; location?: { city?: string } }> }>();

  it("the next parcel moves its own shipment, tells its own customer, and shows only its own journey", async () => {
    const old = await paidOrder(f, 'ord-old', [{ lineId: 'l1', size: 'M' }]);
    const first = await ship(f, old.id, ['l1'], 'lk-a', 'M', '1ZREUSE');
    await acceptAndApply(f, [scan('1ZREUSE', 'picked_up', f.clock.now() - 120_000, { location: { city: 'Old Town' } }), scan('1ZREUSE', 'returned_to_sender', f.clock.now() - 60_000)]);
    expect((await f.services.shipments.get(first.id)).state).toBe('returned_to_sender');
    const oldNotices = (await f.store.notifications.list({})).filter((n) => n.payload['orderId'] === old.id).length;

    f.clock.advance(REUSED_NUMBER_GAP_MS + 60 * DAY);
    const o = await paidOrder(f, 'ord-new', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZREUSE');
    expect(s.state).toBe('created');
    const t = f.clock.now() - 3 * 3_600_000;
    await acceptAndApply(f, [scan('1ZREUSE', 'label_created', t), scan('1ZREUSE', 'picked_up', t + 60_000, { location: { city: 'Kassel' } })]);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    expect(await noticesOf(f, 'shipment.shipped', s.id)).toHaveLength(1);

    await acceptAndApply(f, [scan('1ZREUSE', 'exception', t + 2 * 3_600_000, { carrierReason: 'address unclear' })]);
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(1);
    const view = await track('1ZREUSE');
    expect(view.status).toBe('exception');
    expect(view.history.map((h) => h.status)).toEqual(['exception', 'picked_up', 'label_created']);
    expect(JSON.stringify(view)).not.toContain('Old Town');

    await acceptAndApply(f, [scan('1ZREUSE', 'in_transit', t + 2.5 * 3_600_000), scan('1ZREUSE', 'out_for_delivery', t + 2.8 * 3_600_000)]);
    expect((await f.services.shipments.get(s.id)).state).toBe('out_for_delivery');
    expect(await noticesOf(f, 'shipment.out_for_delivery', s.id)).toHaveLength(1);
    // The old parcel's order heard nothing of the new one, and its shipment stayed returned.
    expect((await f.store.notifications.list({})).filter((n) => n.payload['orderId'] === old.id)).toHaveLength(oldNotices);
    expect((await f.services.shipments.get(first.id)).state).toBe('returned_to_sender');
    // Nothing of it is flagged for review, and the projection is the fold of its history.
    expect((await f.store.tracking.projection('1ZREUSE'))?.projection).toMatchObject({ flagged: 0, cycle: 1, cycleStart: t });
    expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
  });

  it("a late scan of the old parcel's return, after the new parcel started, leaves the new parcel's shipment and order alone", async () => {
    const old = await paidOrder(f, 'ord-late-old', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, old.id, ['l1'], 'lk-a', 'M', '1ZLATE');
    const end = f.clock.now() - 60_000;
    await acceptAndApply(f, [scan('1ZLATE', 'picked_up', end - 60_000), scan('1ZLATE', 'returned_to_sender', end)]);
    f.clock.advance(REUSED_NUMBER_GAP_MS + 10 * DAY);
    const o = await paidOrder(f, 'ord-late-new', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZLATE');
    const start = f.clock.now() - 3_600_000;
    await acceptAndApply(f, [scan('1ZLATE', 'label_created', start), scan('1ZLATE', 'picked_up', start + 60_000)]);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    // A provider resends the old parcel's checkpoints with one we never had, 29 days before the new start.
    await acceptAndApply(f, [scan('1ZLATE', 'returned_to_sender', start - 29 * DAY, { carrierStatus: 'RETURNED - SECOND SCAN' })]);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    expect((await f.services.orders.get(o.id)).state).not.toBe('returned');
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(0);
    expect((await f.store.tracking.projection('1ZLATE'))?.projection).toMatchObject({ status: 'picked_up', cycle: 1 });
    expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
  });

  it('the new parcel stuck before its shipment was recorded: its customer is told, though the old parcel had a shipment too', async () => {
    const old = await paidOrder(f, 'ord-x-old', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, old.id, ['l1'], 'lk-a', 'M', '1ZSTUCK');
    await acceptAndApply(f, [scan('1ZSTUCK', 'picked_up', f.clock.now() - 120_000), scan('1ZSTUCK', 'returned_to_sender', f.clock.now() - 60_000)]);
    f.clock.advance(REUSED_NUMBER_GAP_MS + 10 * DAY);
    const start = f.clock.now() - 3_600_000;
    await acceptAndApply(f, [scan('1ZSTUCK', 'label_created', start), scan('1ZSTUCK', 'picked_up', start + 60_000), scan('1ZSTUCK', 'exception', start + 120_000, { carrierReason: 'damaged' })]);
    const o = await paidOrder(f, 'ord-x-new', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZSTUCK');
    expect(s.state).toBe('shipped');
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(1);
    expect((await f.store.notifications.list({ kind: 'tracking.exception' })).filter((n) => n.payload['orderId'] === old.id)).toHaveLength(0);
  });

  it("a late pickup-point scan of the old parcel, then the new parcel's trouble and return: only the new order hears of it", async () => {
    const old = await paidOrder(f, 'ord-pp-old', [{ lineId: 'l1', size: 'M' }]);
    const first = await ship(f, old.id, ['l1'], 'lk-a', 'M', '1ZPP');
    const end = f.clock.now() - 60_000;
    await acceptAndApply(f, [scan('1ZPP', 'picked_up', end - 7_200_000), scan('1ZPP', 'out_for_delivery', end - 3_600_000), scan('1ZPP', 'delivered', end)]);
    f.clock.advance(REUSED_NUMBER_GAP_MS + 10 * DAY);
    const o = await paidOrder(f, 'ord-pp-new', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZPP');
    const start = f.clock.now() - 3_600_000;
    await acceptAndApply(f, [scan('1ZPP', 'label_created', start), scan('1ZPP', 'picked_up', start + 60_000)]);
    // The provider resends the old parcel's checkpoints with one we never had.
    await acceptAndApply(f, [scan('1ZPP', 'available_for_pickup', end - 30 * 60_000)]);
    await acceptAndApply(f, [scan('1ZPP', 'exception', start + 120_000)]);
    await acceptAndApply(f, [scan('1ZPP', 'returned_to_sender', start + 180_000)]);
    expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
    expect((await f.services.shipments.get(first.id)).state).toBe('out_for_delivery');
    const ofOrder = async (orderId: string) => (await f.store.notifications.list({})).filter((n) => n.payload['orderId'] === orderId).map((n) => n.kind);
    expect(await ofOrder(old.id)).not.toContain('tracking.exception');
    expect(await ofOrder(old.id)).not.toContain('shipment.returned_to_sender');
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(1);
    expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
  });

  // A parcel left at a pickup point and sent back: its way back begins 30+ days after it
  // arrived, with scans a new parcel could also begin with. It stays one parcel.
  const waysBack: Array<{ what: string; tn: string; days: number; back: (tn: string, t0: number) => CanonicalTrackingEvent[] }> = [
    {
      what: 'an exception, then in transit',
      tn: '1ZBACK',
      days: 33,
      back: (tn, t0) => [scan(tn, 'exception', t0 + 20 * DAY, { carrierReason: 'not collected' }), scan(tn, 'in_transit', t0 + 31 * DAY, { carrierStatus: 'RETURN IN TRANSIT' })],
    },
    { what: 'in transit 31 days later', tn: '1ZBACK2', days: 34, back: (tn, t0) => [scan(tn, 'in_transit', t0 + 31 * DAY, { carrierStatus: 'RETURN IN TRANSIT' })] },
    {
      what: 'handed back to the carrier 31 days later (a pickup scan)',
      tn: '1ZBACK3',
      days: 34,
      back: (tn, t0) => [scan(tn, 'exception', t0 + 20 * DAY, { carrierReason: 'not collected' }), scan(tn, 'picked_up', t0 + 31 * DAY, { carrierStatus: 'PICKED UP FROM ACCESS POINT' })],
    },
  ];
  for (const { what, tn, days, back } of waysBack) {
    it(`a parcel left at a pickup point whose way back starts with ${what} is one parcel: its order is refunded`, async () => {
      const o = await paidOrder(f, `ord-${tn}`, [{ lineId: 'l1', size: 'M', unitPriceCents: 1500 }]);
      const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', tn);
      const t0 = f.clock.now() - 60_000;
      await acceptAndApply(f, [scan(tn, 'picked_up', t0 - 7_200_000), scan(tn, 'in_transit', t0 - 3_600_000), scan(tn, 'available_for_pickup', t0)]);
      f.clock.advance(days * DAY);
      await acceptAndApply(f, back(tn, t0));
      await acceptAndApply(f, [scan(tn, 'returned_to_sender', t0 + days * DAY)]);
      expect((await f.store.tracking.projection(tn))?.projection).toMatchObject({ status: 'returned_to_sender', cycle: 0 });
      expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
      expect((await f.services.orders.get(o.id)).state).toBe('returned');
    });
  }

  for (const arrival of ['in one payload', 'the old end late'] as const) {
    it(`the old parcel's missed return and the next parcel's label arriving together (${arrival}): each order hears of its own parcel`, async () => {
      const old = await paidOrder(f, `ord-both-old-${arrival}`, [{ lineId: 'l1', size: 'M' }]);
      const first = await ship(f, old.id, ['l1'], 'lk-a', 'M', '1ZBOTH');
      const t0 = f.clock.now() - 60_000;
      await acceptAndApply(f, [scan('1ZBOTH', 'picked_up', t0 - 3_600_000), scan('1ZBOTH', 'in_transit', t0)]);
      expect((await f.services.shipments.get(first.id)).state).toBe('shipped');
      f.clock.advance(40 * DAY);
      const o = await paidOrder(f, `ord-both-new-${arrival}`, [{ lineId: 'l1', size: 'M' }]);
      const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZBOTH');
      // The old parcel's return (2 days in) was missed until a poll brought the whole history.
      const oldEnd = scan('1ZBOTH', 'returned_to_sender', t0 + 2 * DAY);
      const label = scan('1ZBOTH', 'label_created', t0 + 39 * DAY);
      if (arrival === 'in one payload') await acceptAndApply(f, [oldEnd, label]);
      else {
        await acceptAndApply(f, [label]);
        await acceptAndApply(f, [oldEnd]);
      }
      expect((await f.store.tracking.projection('1ZBOTH'))?.projection).toMatchObject({ status: 'label_created', cycle: 1 });
      expect((await f.services.shipments.get(first.id)).state).toBe('returned_to_sender');
      expect((await f.services.orders.get(old.id)).state).toBe('returned');
      expect(await noticesOf(f, 'shipment.returned_to_sender', first.id)).toHaveLength(1);
      expect((await f.services.shipments.get(s.id)).state).toBe('created');
      expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(0);
    });
  }

  it("three parcels' worth of history in one payload: each parcel's end reaches its own order", async () => {
    await f.services.lockers.register(lockerInput('lk-b', 52.5, 13.4, { M: 3 }));
    const a = await paidOrder(f, 'ord-three-a', [{ lineId: 'l1', size: 'M' }]);
    const sa = await ship(f, a.id, ['l1'], 'lk-b', 'M', '1ZTHREE');
    const t0 = f.clock.now() - 60_000;
    await acceptAndApply(f, [scan('1ZTHREE', 'picked_up', t0 - 3_600_000), scan('1ZTHREE', 'in_transit', t0)]);
    f.clock.advance(30 * DAY);
    const b = await paidOrder(f, 'ord-three-b', [{ lineId: 'l1', size: 'M' }]);
    const sb = await ship(f, b.id, ['l1'], 'lk-b', 'M', '1ZTHREE');
    f.clock.advance(45 * DAY);
    const c = await paidOrder(f, 'ord-three-c', [{ lineId: 'l1', size: 'M' }]);
    const sc = await ship(f, c.id, ['l1'], 'lk-b', 'M', '1ZTHREE');
    f.clock.advance(10 * DAY);
    // A poll brings 80 days of history at once: A's return, B's whole journey back, C's label.
    await acceptAndApply(f, [
      scan('1ZTHREE', 'returned_to_sender', t0 + 2 * DAY),
      scan('1ZTHREE', 'label_created', t0 + 39 * DAY),
      scan('1ZTHREE', 'picked_up', t0 + 40 * DAY),
      scan('1ZTHREE', 'returned_to_sender', t0 + 41 * DAY),
      scan('1ZTHREE', 'label_created', t0 + 81 * DAY),
    ]);
    expect((await f.store.tracking.projection('1ZTHREE'))?.projection).toMatchObject({ status: 'label_created', cycle: 2 });
    expect((await f.services.shipments.get(sa.id)).state).toBe('returned_to_sender');
    expect((await f.services.shipments.get(sb.id)).state).toBe('returned_to_sender');
    expect((await f.services.shipments.get(sc.id)).state).toBe('created');
    for (const s of [sa, sb]) expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(1);
    expect(await noticesOf(f, 'shipment.returned_to_sender', sc.id)).toHaveLength(0);
  });

  for (const from of ['the first parcel', 'a later parcel'] as const) {
    it(`a late scan of an even older parcel renumbers the cycles but tells nothing again and learns nothing twice (from ${from})`, async () => {
      const tn = from === 'the first parcel' ? '1ZRENUM0' : '1ZRENUM';
      const o = await paidOrder(f, `ord-${tn}`, [{ lineId: 'l1', size: 'M' }]);
      const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', tn);
      const t0 = f.clock.now() - 60_000;
      await acceptAndApply(f, [scan(tn, 'label_created', t0 - 2 * DAY), scan(tn, 'picked_up', t0 - DAY), scan(tn, 'available_for_pickup', t0)]);
      let cycle = 0;
      if (from === 'a later parcel') {
        f.clock.advance(41 * DAY);
        await acceptAndApply(f, [scan(tn, 'label_created', t0 + 40 * DAY), scan(tn, 'picked_up', t0 + 40 * DAY + 60_000)]);
        cycle = 1;
      }
      const before = (await f.store.tracking.projection(tn))?.projection;
      expect(before).toMatchObject({ cycle });
      expect(JSON.stringify(await f.store.legStats.all())).toContain('"picked_up":{"count":1,');
      const legs = JSON.stringify(await f.store.legStats.all());
      const notices = (await f.store.notifications.list({})).length;
      const state = (await f.services.shipments.get(s.id)).state;
      // An even older parcel's delivery, 40 days before the first label.
      await acceptAndApply(f, [scan(tn, 'delivered', t0 - 42 * DAY)]);
      expect((await f.store.tracking.projection(tn))?.projection).toMatchObject({ cycle: cycle + 1, status: before?.status });
      expect(JSON.stringify(await f.store.legStats.all())).toBe(legs);
      expect((await f.store.notifications.list({})).length).toBe(notices);
      expect((await f.services.shipments.get(s.id)).state).toBe(state);
      expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
    });
  }

  // A batch that ends the current parcel and starts the next, with a scan that moves the
  // current parcel's bounds: an even older parcel's delivery (renumbering every cycle), or a
  // reprinted label of its own an hour before its first (moving its start).
  const boundMovers: Array<{ what: string; tn: string; extra: (tn: string, t0: number) => CanonicalTrackingEvent }> = [
    { what: "an even older parcel's delivery", tn: '1ZSHIFT', extra: (tn, t0) => scan(tn, 'delivered', t0 - 42 * DAY) },
    { what: 'a reprinted label of its own', tn: '1ZSHIFT2', extra: (tn, t0) => scan(tn, 'label_created', t0 + 40 * DAY - 3_600_000, { carrierStatus: 'LABEL REPRINTED' }) },
  ];
  for (const { what, tn, extra } of boundMovers) {
    it(`the current parcel's return and the next label in one payload with ${what}: the current order is returned and refunded`, async () => {
      const a = await paidOrder(f, `ord-${tn}-a`, [{ lineId: 'l1', size: 'M' }]);
      const sa = await ship(f, a.id, ['l1'], 'lk-a', 'M', tn);
      const t0 = f.clock.now() - 60_000;
      await acceptAndApply(f, [scan(tn, 'label_created', t0 - 2 * 3_600_000), scan(tn, 'picked_up', t0 - 3_600_000), scan(tn, 'returned_to_sender', t0)]);
      expect((await f.services.shipments.get(sa.id)).state).toBe('returned_to_sender');
      f.clock.advance(41 * DAY);
      const b = await paidOrder(f, `ord-${tn}-b`, [{ lineId: 'l1', size: 'M', unitPriceCents: 2500 }]);
      const sb = await ship(f, b.id, ['l1'], 'lk-a', 'M', tn);
      await acceptAndApply(f, [scan(tn, 'label_created', t0 + 40 * DAY), scan(tn, 'picked_up', t0 + 41 * DAY)]);
      expect((await f.services.shipments.get(sb.id)).state).toBe('shipped');
      f.clock.advance(40 * DAY);
      await acceptAndApply(f, [extra(tn, t0), scan(tn, 'returned_to_sender', t0 + 43 * DAY), scan(tn, 'label_created', t0 + 80 * DAY)]);
      expect((await f.store.tracking.projection(tn))?.projection).toMatchObject({ status: 'label_created', cycleStart: t0 + 80 * DAY });
      expect((await f.services.shipments.get(sb.id)).state).toBe('returned_to_sender');
      expect((await f.services.orders.get(b.id)).state).toBe('returned');
      expect(await noticesOf(f, 'shipment.returned_to_sender', sb.id)).toHaveLength(1);
      expect(await noticesOf(f, 'shipment.returned_to_sender', sa.id)).toHaveLength(1);
      expect((await rebuildTracking(f.store, f.clock, carrierPromiseEta, { write: false })).differences).toEqual([]);
    });
  }

  it("a late return that splits what looked like one parcel in two reaches the first parcel's order", async () => {
    const o = await paidOrder(f, 'ord-split', [{ lineId: 'l1', size: 'M', unitPriceCents: 1800 }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZSPLIT');
    const t0 = f.clock.now() - 60_000;
    await acceptAndApply(f, [scan('1ZSPLIT', 'label_created', t0), scan('1ZSPLIT', 'picked_up', t0 + DAY)]);
    f.clock.advance(37 * DAY);
    // The next parcel's label (flagged: the journey had not ended as far as we knew) and a scan.
    await acceptAndApply(f, [scan('1ZSPLIT', 'label_created', t0 + 35 * DAY), scan('1ZSPLIT', 'in_transit', t0 + 36 * DAY)]);
    // The first parcel's return, two days in, comes in late: it was two parcels.
    await acceptAndApply(f, [scan('1ZSPLIT', 'returned_to_sender', t0 + 2 * DAY)]);
    expect((await f.store.tracking.projection('1ZSPLIT'))?.projection).toMatchObject({ cycle: 1, status: 'in_transit' });
    expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
    expect((await f.services.orders.get(o.id)).state).toBe('returned');
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(1);
  });

  it("the next parcel's late label moves its shipment, whose scans had been taken for the old parcel's", async () => {
    const a = await paidOrder(f, 'ord-lbl-a', [{ lineId: 'l1', size: 'M' }]);
    const sa = await ship(f, a.id, ['l1'], 'lk-a', 'M', '1ZLBL');
    const t0 = f.clock.now() - 60_000;
    await acceptAndApply(f, [scan('1ZLBL', 'label_created', t0 - DAY), scan('1ZLBL', 'picked_up', t0 - DAY / 2), scan('1ZLBL', 'delivered', t0)]);
    f.clock.advance(34 * DAY);
    const b = await paidOrder(f, 'ord-lbl-b', [{ lineId: 'l1', size: 'M' }]);
    const sb = await ship(f, b.id, ['l1'], 'lk-a', 'M', '1ZLBL');
    f.clock.advance(4 * DAY);
    const legs = await f.store.legStats.all();
    // Its scans without its label: steps back from the old parcel's delivery (flagged), and a delivery.
    await acceptAndApply(f, [scan('1ZLBL', 'picked_up', t0 + 36 * DAY), scan('1ZLBL', 'out_for_delivery', t0 + 37 * DAY), scan('1ZLBL', 'delivered', t0 + 37.5 * DAY)]);
    expect((await f.services.shipments.get(sb.id)).state).toBe('created');
    await acceptAndApply(f, [scan('1ZLBL', 'label_created', t0 + 35 * DAY)]);
    expect((await f.store.tracking.projection('1ZLBL'))?.projection).toMatchObject({ cycle: 1, status: 'delivered', flagged: 0 });
    expect((await f.services.shipments.get(sb.id)).state).toBe('out_for_delivery');
    expect((await f.services.shipments.get(sa.id)).state).toBe('shipped');
    // The new parcel's legs are learned, once.
    expect(JSON.stringify(await f.store.legStats.all())).not.toBe(JSON.stringify(legs));
    expect(JSON.stringify(await f.store.legStats.all())).toContain('"picked_up":{"count":2,');
  });

  it("a shipment caught up as the old parcel's keeps to it when a late scan moves that parcel's end earlier", async () => {
    const a = await paidOrder(f, 'ord-cap-a', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, a.id, ['l1'], 'lk-a', 'M', '1ZCAPLATE');
    const t0 = f.clock.now() + 60_000;
    f.clock.advance(2 * DAY);
    await acceptAndApply(f, [scan('1ZCAPLATE', 'picked_up', t0), scan('1ZCAPLATE', 'in_transit', t0 + DAY)]);
    // 29.9 days after its newest scan: the old parcel's, caught up as shipped.
    f.clock.set(t0 + 30.9 * DAY - 60_000);
    const b = await paidOrder(f, 'ord-cap-b', [{ lineId: 'l1', size: 'M', unitPriceCents: 2000 }]);
    const sb = await ship(f, b.id, ['l1'], 'lk-a', 'M', '1ZCAPLATE');
    expect(sb.state).toBe('shipped');
    // The old parcel's delivery half a day in (late), and the next parcel's whole short journey back.
    f.clock.set(t0 + 80.9 * DAY);
    await acceptAndApply(f, [
      scan('1ZCAPLATE', 'delivered', t0 + 0.5 * DAY),
      scan('1ZCAPLATE', 'label_created', t0 + 80 * DAY),
      scan('1ZCAPLATE', 'picked_up', t0 + 80.2 * DAY),
      scan('1ZCAPLATE', 'returned_to_sender', t0 + 80.5 * DAY),
    ]);
    expect((await f.store.tracking.projection('1ZCAPLATE'))?.projection).toMatchObject({ cycle: 1, status: 'returned_to_sender' });
    expect((await f.services.shipments.get(sb.id)).state).toBe('shipped');
    expect((await f.services.orders.get(b.id)).state).not.toBe('returned');
    expect(await noticesOf(f, 'shipment.returned_to_sender', sb.id)).toHaveLength(0);
  });

  it('a shipment recorded while the old parcel is on its way back leaves that parcel\'s polling as it was', async () => {
    const a = await paidOrder(f, 'ord-wback-a', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, a.id, ['l1'], 'lk-a', 'M', '1ZWBACK');
    const t0 = f.clock.now() + 60_000;
    f.clock.advance(DAY);
    await acceptAndApply(f, [scan('1ZWBACK', 'picked_up', t0 - 2 * 3_600_000), scan('1ZWBACK', 'in_transit', t0 - 3_600_000), scan('1ZWBACK', 'available_for_pickup', t0)]);
    f.clock.set(t0 + 31 * DAY + 60_000);
    await acceptAndApply(f, [scan('1ZWBACK', 'exception', t0 + 20 * DAY, { carrierReason: 'not collected' }), scan('1ZWBACK', 'in_transit', t0 + 31 * DAY, { carrierStatus: 'RETURN IN TRANSIT' })]);
    const polling = await f.store.pollSchedule.get('1ZWBACK');
    expect(polling).toMatchObject({ status: 'in_transit', lastEventAt: t0 + 31 * DAY });
    f.clock.set(t0 + 33 * DAY);
    const b = await paidOrder(f, 'ord-wback-b', [{ lineId: 'l1', size: 'M' }]);
    const sb = await ship(f, b.id, ['l1'], 'lk-a', 'M', '1ZWBACK');
    expect(sb.state).toBe('created');
    expect(await f.store.pollSchedule.get('1ZWBACK')).toEqual(polling);
  });

  it("a shipment recorded more than 30 days after the old parcel arrived is not moved by that parcel's later collection", async () => {
    const a = await paidOrder(f, 'ord-coll-a', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, a.id, ['l1'], 'lk-a', 'M', '1ZCOLL');
    const t0 = f.clock.now() + 60_000;
    f.clock.advance(12 * DAY);
    await acceptAndApply(f, [scan('1ZCOLL', 'label_created', t0), scan('1ZCOLL', 'picked_up', t0 + DAY), scan('1ZCOLL', 'available_for_pickup', t0 + 2 * DAY), scan('1ZCOLL', 'collected', t0 + 11 * DAY)]);
    f.clock.advance(23 * DAY);
    // 33 days after it arrived at the pickup point, 22 after it was collected: a recycled number.
    const b = await paidOrder(f, 'ord-coll-b', [{ lineId: 'l1', size: 'M' }]);
    const sb = await ship(f, b.id, ['l1'], 'lk-a', 'M', '1ZCOLL');
    expect(sb.state).toBe('created');
    expect(await f.store.pollSchedule.get('1ZCOLL')).toMatchObject({ status: null, lastEventAt: null });
  });

  it("a parcel delivered to an address tells its order once, also when a late scan renumbers it, and another order sharing the number its own", async () => {
    const o = await paidOrder(f, 'ord-home', [{ lineId: 'l1', size: 'M' }]);
    const other = await paidOrder(f, 'ord-home-2', [{ lineId: 'l1', size: 'M' }]);
    // Shipments with no locker (rows from before every shipment had one): two of one order, one of another.
    const now = f.clock.now();
    const homes = [`${o.id}-a`, `${o.id}-b`, `${other.id}-a`];
    for (const [i, id] of homes.entries()) {
      await f.store.shipments.insert({ id, orderId: i < 2 ? o.id : other.id, state: 'created', carrier: 'ups', trackingNumber: '1ZHOME', version: 1, createdAt: now, updatedAt: now });
    }
    const t0 = now - 60_000;
    await acceptAndApply(f, [scan('1ZHOME', 'label_created', t0 - 2 * DAY), scan('1ZHOME', 'picked_up', t0 - DAY), scan('1ZHOME', 'delivered', t0)]);
    // An even older parcel's delivery renumbers this one; then a late scan of its own re-folds it again.
    await acceptAndApply(f, [scan('1ZHOME', 'delivered', t0 - 42 * DAY)]);
    await acceptAndApply(f, [scan('1ZHOME', 'out_for_delivery', t0 - 3_600_000)]);
    expect((await f.store.tracking.projection('1ZHOME'))?.projection).toMatchObject({ cycle: 1, status: 'delivered' });
    const delivered = await f.store.notifications.list({ kind: 'tracking.delivered' });
    expect(delivered.map((n) => n.payload['orderId']).sort()).toEqual([o.id, other.id].sort());
  });

  it('a number a re-fold would put back on an earlier parcel moves nothing and is counted for someone to look at', async () => {
    const o = await paidOrder(f, 'ord-undone', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZUNDONE');
    const t0 = f.clock.now() - 60_000;
    await acceptAndApply(f, [scan('1ZUNDONE', 'label_created', t0 - DAY)]);
    // A projection written by an older release (or by hand) on a later parcel than its history holds.
    const stored = (await f.store.tracking.projection('1ZUNDONE'))!.projection;
    await f.store.transaction(() => f.store.tracking.saveProjections([{ ...stored, cycle: 3, cycleStart: t0 - DAY }], f.clock.now()));
    const notices = (await f.store.notifications.list({})).length;
    // A late scan makes the applier re-fold the history: parcel 0 again, picked up.
    await acceptAndApply(f, [scan('1ZUNDONE', 'picked_up', t0 - DAY + 60_000), scan('1ZUNDONE', 'label_created', t0 - DAY - 300_000, { carrierStatus: 'EARLIER' })]);
    expect(f.services.tracking.metrics.counts.cycle_undone).toBe(1);
    expect((await f.services.shipments.get(s.id)).state).toBe('created');
    expect((await f.store.notifications.list({})).length).toBe(notices);
  });

  it('a scan of the old journey a week after it ended is still a step backwards, flagged for review', async () => {
    const o = await paidOrder(f, 'ord-week', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1ZWEEK');
    await acceptAndApply(f, [scan('1ZWEEK', 'picked_up', f.clock.now() - 120_000), scan('1ZWEEK', 'returned_to_sender', f.clock.now() - 60_000)]);
    f.clock.advance(7 * DAY);
    await acceptAndApply(f, [scan('1ZWEEK', 'in_transit', f.clock.now() - 60_000)]);
    expect((await f.store.tracking.projection('1ZWEEK'))?.projection).toMatchObject({ status: 'returned_to_sender', flagged: 1, cycle: 0 });
    expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
  });

  it('a merchant\'s ship step through the API for a recycled number (its old parcel collected 40 days ago) ships the new shipment', async () => {
    const o1 = await paidOrder(f, 'ord-recycled-old', [{ lineId: 'l1', size: 'M' }]);
    const old = await ship(f, o1.id, ['l1'], 'lk-a', 'M', 'RECY-1');
    await f.services.shipments.carrierEvent(old.id, 'ship', { actor: 'merchant' });
    expect((await f.services.shipments.get(old.id)).state).toBe('shipped');
    await f.services.parcels.deposited(old.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    f.clock.advance(3_600_000);
    await f.services.parcels.collected(old.id, 'lk-a', { actor: 'locker' });
    await f.services.tracking.applier.drain();
    expect((await f.store.tracking.projection('RECY-1'))?.projection.status).toBe('collected');
    // 40 days later the carrier hands the merchant the same number again.
    f.clock.advance(40 * 24 * 3_600_000);
    const o2 = await paidOrder(f, 'ord-recycled-new', [{ lineId: 'l1', size: 'M' }]);
    const next = await ship(f, o2.id, ['l1'], 'lk-a', 'M', 'RECY-1');
    // The step is allowed for the shipment (no 422) ...
    const view = await f.services.shipments.carrierEvent(next.id, 'ship', { actor: 'merchant' });
    // ... so it must have happened: the customer is told it shipped.
    expect(view.state).toBe('shipped');
    expect(await noticesOf(f, 'shipment.shipped', next.id)).toHaveLength(1);
    // A new parcel on the page: the old one's journey is not shown to the new customer.
    expect((await f.store.tracking.projection('RECY-1'))?.projection).toMatchObject({ status: 'picked_up', cycle: 1 });
    expect((await f.services.shipments.get(old.id)).state).toBe('collected');
  });
});
