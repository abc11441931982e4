import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { GENESIS_PREV_HASH, auditRecordHash } from '../shared/contract.js';
import { acceptAndApply, noticesOf, scanAt } from '../testing/backend-tracking.js';
import { testEngines } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';

// A carrier's return to sender, through the real intake and applier on every engine: the
// compartment held for a parcel that will not come is freed and its code revoked, the
// customer is told once and refunded, and the order follows. A parcel already in the
// locker is left to the locker's own events.

const engines = await testEngines('return to sender');

describe.each(engines)('a carrier return to sender on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  const at = (m: number): number => scanAt(f, m);
  const send = (events: CanonicalTrackingEvent[]): Promise<void> => acceptAndApply(f, events);

  it('frees the compartment, revokes the code, refunds and tells the customer once; the order is returned', async () => {
    const o = await paidOrder(f, 'ord-rts', [{ lineId: 'l1', size: 'M', unitPriceCents: 2300 }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTS-1');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    expect(tokenId).toBeDefined();
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'reserved')).toHaveLength(1);

    const stream = [
      scan('RTS-1', 'picked_up', at(0), { carrierEventId: 'r1' }),
      scan('RTS-1', 'exception', at(10), { carrierEventId: 'r2', carrierReason: 'address unknown' }),
      scan('RTS-1', 'returned_to_sender', at(20), { carrierEventId: 'r3' }),
    ];
    await send(stream);
    // The provider replays it with fresh ids: nothing moves twice.
    await send(stream.map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-again` })));

    expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
    expect((await f.services.orders.get(o.id)).state).toBe('returned');
    expect((await f.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
    expect((await f.store.codeSets.liveEntries('lk-a')).map((e) => e.tokenId)).not.toContain(tokenId);
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(1);
    // The carrier had it: shipped first, then returned, each told once.
    expect(await noticesOf(f, 'shipment.shipped', s.id)).toHaveLength(1);
    expect((await f.store.stateLog.list('shipment', s.id)).map((e) => e.to)).toEqual(['created', 'shipped', 'returned_to_sender']);
    // The exception ended in the return within the same payload: the return is what is told.
    expect(await noticesOf(f, 'tracking.exception', s.id)).toHaveLength(0);
    await f.services.orders.processRefunds();
    expect((await f.services.orders.get(o.id)).refunds).toEqual([expect.objectContaining({ amountCents: 2300, state: 'succeeded' })]);
    // Both M compartments take new parcels: the freed one is reservable again.
    const o2 = await paidOrder(f, 'ord-rts-next', [
      { lineId: 'l1', size: 'M' },
      { lineId: 'l2', size: 'M' },
    ]);
    await ship(f, o2.id, ['l1'], 'lk-a', 'M', 'RTS-NEXT-1');
    await ship(f, o2.id, ['l2'], 'lk-a', 'M', 'RTS-NEXT-2');
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'reserved')).toHaveLength(2);
  });

  it('returns one parcel of a split order and lets the other go on', async () => {
    const o = await paidOrder(f, 'ord-rts-split', [
      { lineId: 'l1', size: 'M' },
      { lineId: 'l2', size: 'M' },
    ]);
    const back = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTS-2A');
    const on = await ship(f, o.id, ['l2'], 'lk-a', 'M', 'RTS-2B');
    await send([scan('RTS-2A', 'in_transit', at(0)), scan('RTS-2B', 'in_transit', at(0)), scan('RTS-2A', 'returned_to_sender', at(30))]);
    expect((await f.services.shipments.get(back.id)).state).toBe('returned_to_sender');
    expect((await f.services.shipments.get(on.id)).state).toBe('shipped');
    // Not "partially delivered": nothing was.
    expect((await f.services.orders.get(o.id)).state).toBe('shipped');
    await f.services.parcels.deposited(on.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    expect((await f.services.orders.get(o.id)).state).toBe('delivered');
  });

  it('lets the customer cancel the rest of an order one of whose parcels was returned, refunding each line once', async () => {
    const o = await paidOrder(f, 'ord-rts-cancel', [
      { lineId: 'l1', size: 'M', unitPriceCents: 1500 },
      { lineId: 'l2', size: 'M', unitPriceCents: 700 },
    ]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTS-6A');
    const kept = await ship(f, o.id, ['l2'], 'lk-a', 'M', 'RTS-6B');
    await send([scan('RTS-6A', 'returned_to_sender', at(10))]);
    const cancelled = await f.services.orders.cancel(o.id, { reason: 'no longer needed' }, 'customer');
    expect(cancelled.state).toBe('cancelled');
    expect(cancelled.shipments.find((x) => x.id === kept.id)?.state).toBe('cancelled');
    await f.services.orders.processRefunds();
    expect((await f.store.refunds.byOrder(o.id)).map((r) => r.amountCents).sort((a, b) => a - b)).toEqual([700, 1500]);
    expect((await f.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
  });

  it('raises a fault when the locker reports the deposit of a parcel the carrier had returned meanwhile', async () => {
    const o = await paidOrder(f, 'ord-rts-race', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTS-4');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    await send([scan('RTS-4', 'out_for_delivery', at(0)), scan('RTS-4', 'returned_to_sender', at(10))]);
    expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
    // The locker was offline: the courier deposited before the revocation reached it.
    const deposit = { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1' } };
    const dataJson = JSON.stringify(deposit.data);
    const hash = auditRecordHash(GENESIS_PREV_HASH, 1, f.clock.now(), deposit.type, dataJson);
    await f.services.ingest.ingest('lk-a', 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0', [{ seq: 1, at: f.clock.now(), type: deposit.type, lane: 'normal', dataJson, prevHash: GENESIS_PREV_HASH, hash }]);
    const alerts = await f.store.alerts.list('lk-a');
    expect(alerts.filter((a) => a.kind === 'fault.parcel-not-live')).toEqual([expect.objectContaining({ details: expect.objectContaining({ parcelId: s.id, compartmentId: 'M1', shipmentState: 'returned_to_sender' }) as unknown })]);
    expect((await f.services.shipments.get(s.id)).state).toBe('returned_to_sender');
    expect(await noticesOf(f, 'parcel.ready_for_pickup', s.id)).toHaveLength(0);
    // A courier who used the wrong locker has left it there all the same.
    await f.services.lockers.register(lockerInput('lk-b', 52.5, 13.4, { M: 1 }));
    await f.services.ingest.ingest('lk-b', 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1', [{ seq: 1, at: f.clock.now(), type: deposit.type, lane: 'normal', dataJson, prevHash: GENESIS_PREV_HASH, hash }]);
    expect((await f.store.alerts.list('lk-b')).filter((a) => a.kind === 'fault.parcel-not-live')).toHaveLength(1);
  });

  it('returns a parcel once however often the carrier reports it', async () => {
    const o = await paidOrder(f, 'ord-rts-twice', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTS-5');
    await send([scan('RTS-5', 'in_transit', at(0)), scan('RTS-5', 'returned_to_sender', at(10))]);
    // Later scans of the same status (beyond the composite skew) and a late earlier scan that refolds.
    await send([scan('RTS-5', 'returned_to_sender', at(70))]);
    await send([scan('RTS-5', 'picked_up', at(-5)), scan('RTS-5', 'returned_to_sender', at(130))]);
    expect((await f.store.tracking.history('RTS-5')).filter((h) => h.event.status === 'returned_to_sender')).toHaveLength(3);
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(1);
    expect(await f.store.refunds.byOrder(o.id)).toHaveLength(1);
    expect((await f.store.stateLog.list('shipment', s.id)).filter((e) => e.to === 'returned_to_sender')).toHaveLength(1);
  });

  it('puts a parcel nobody collected on its way back: GET /track changes at the deadline and shows the courier taking it out', async () => {
    const o = await paidOrder(f, 'ord-expired', [{ lineId: 'l1', size: 'M', unitPriceCents: 900 }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EXP-1');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.tracking.applier.drain();
    const app = await f.app();
    const ready = await app.inject({ method: 'GET', url: '/track/EXP-1' });
    expect(ready.json()).toMatchObject({ status: 'available_for_pickup', lockerId: 'lk-a' });
    const deadline = (await f.services.shipments.get(s.id)).pickupDeadline as number;
    f.clock.advance(deadline - f.clock.now() + 60_000);
    expect(await f.services.parcels.expireDue()).toBe(1);
    await f.services.tracking.applier.drain();
    // The code is dead: the page says so at once (a new ETag), dated at the deadline.
    const expired = await app.inject({ method: 'GET', url: '/track/EXP-1', headers: { 'if-none-match': String(ready.headers['etag']) } });
    expect(expired.statusCode).toBe(200);
    expect(expired.json()).toMatchObject({ status: 'returned_to_sender', lastEventAt: deadline });
    f.clock.advance(3_600_000);
    const retrievedAt = f.clock.now() - 60_000;
    expect(await f.services.parcels.retrieved(s.id, 'lk-a', { actor: 'locker' }, retrievedAt)).toBe('applied');
    await f.services.tracking.applier.drain();
    const back = (await app.inject({ method: 'GET', url: '/track/EXP-1' })).json<{ status: string; lastEventAt: number; history: Array<{ status: string; carrierStatus: string }> }>();
    expect(back).toMatchObject({ status: 'returned_to_sender', lastEventAt: retrievedAt });
    expect(back.history.map((h) => h.carrierStatus)).toEqual(['locker.retrieve', 'locker.expire', 'locker.deposit']);
    // The locker's own return: no carrier-return notice, one refund, nothing flagged.
    expect((await f.services.orders.get(o.id)).state).toBe('returned');
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(0);
    expect(await f.store.refunds.byOrder(o.id)).toEqual([expect.objectContaining({ amountCents: 900 })]);
    expect(await f.store.tracking.flags('EXP-1')).toEqual([]);
  });

  it("adds nothing after a collection when the customer's own return is retrieved", async () => {
    const o = await paidOrder(f, 'ord-own-return', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'OWN-1');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.parcels.collected(s.id, 'lk-a', { actor: 'locker' });
    await f.services.parcels.requestReturn(s.id, undefined, { actor: 'customer' });
    await f.services.parcels.returnDropped(s.id, 'lk-a', { actor: 'locker' });
    expect(await f.services.parcels.retrieved(s.id, 'lk-a', { actor: 'locker' })).toBe('applied');
    await f.services.tracking.applier.drain();
    expect((await f.store.tracking.history('OWN-1')).map((h) => h.event.status)).toEqual(['available_for_pickup', 'collected']);
    expect(await f.store.tracking.flags('OWN-1')).toEqual([]);
  });

  it('leaves a parcel that is already in the locker to the locker', async () => {
    const o = await paidOrder(f, 'ord-rts-late', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'RTS-3');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.tracking.applier.drain();
    await send([scan('RTS-3', 'returned_to_sender', f.clock.now() + 60_000)]);
    // In our locker the doors decide: the carrier's return is kept for review, the timeline stays at the locker.
    expect((await f.store.tracking.projection('RTS-3'))?.projection).toMatchObject({ status: 'available_for_pickup', reached: expect.not.arrayContaining(['returned_to_sender']) as unknown });
    expect((await f.store.tracking.flags('RTS-3')).map((r) => r.to)).toEqual(['returned_to_sender']);
    expect((await f.services.shipments.get(s.id)).state).toBe('delivered');
    expect((await f.services.orders.get(o.id)).state).toBe('delivered');
    expect(await noticesOf(f, 'shipment.returned_to_sender', s.id)).toHaveLength(0);
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'occupied')).toHaveLength(1);
  });
});
