import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { acceptAndApply, scanAt } from '../testing/backend-tracking.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { scan } from '../testing/tracking-helpers.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';

// Tracking over HTTP and through the order: POST /tracking/events accepts and applies,
// a malformed payload is a 400 with the reason and a dead letter, GET /track answers from
// the read model with an ETag, and one timeline joins carrier scans, the locker's doors
// and the order's state, with each customer notice sent once.

describe('tracking over HTTP and through the order', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  const post = async (body: string) => (await f.app()).inject({ method: 'POST', url: '/tracking/events', headers: { 'content-type': 'application/json' }, payload: body });
  const at = (m: number): number => scanAt(f, m);
  const send = (events: CanonicalTrackingEvent[]): Promise<void> => acceptAndApply(f, events);

  it('accepts canonical events with 202, applies them, and serves them from GET /track with an ETag and 304', async () => {
    const events: CanonicalTrackingEvent[] = [scan('HT1', 'picked_up', at(0)), scan('HT1', 'in_transit', at(5), { location: { city: 'Kassel', country: 'DE' } })];
    const res = await post(JSON.stringify({ events }));
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ received: 2 });
    await f.services.tracking.applier.kick();
    const app = await f.app();
    const got = await app.inject({ method: 'GET', url: '/track/HT1' });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ trackingNumber: 'HT1', status: 'in_transit', lastLocation: { city: 'Kassel', country: 'DE' }, history: [{ status: 'in_transit' }, { status: 'picked_up' }] });
    const etag = got.headers['etag'];
    expect(etag).toMatch(/^".+"$/);
    const again = await app.inject({ method: 'GET', url: '/track/HT1', headers: { 'if-none-match': String(etag) } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect((await app.inject({ method: 'GET', url: '/track/NOPE' })).statusCode).toBe(404);
    // Compared weakly, in a list, or `*` (a compressing proxy weakens the tag; a client may hold several).
    for (const header of [`W/${String(etag)}`, `"stale", ${String(etag)}`, '*']) {
      expect((await app.inject({ method: 'GET', url: '/track/HT1', headers: { 'if-none-match': header } })).statusCode).toBe(304);
    }
    expect((await app.inject({ method: 'GET', url: '/track/HT1', headers: { 'if-none-match': '"stale"' } })).statusCode).toBe(200);
    // A number typed in small letters or with spaces around it finds the carrier's.
    expect((await app.inject({ method: 'GET', url: '/track/ht1' })).json()).toMatchObject({ trackingNumber: 'HT1' });
    expect((await app.inject({ method: 'GET', url: '/track/%20ht1%20' })).statusCode).toBe(200);

    // The same scans replayed with fresh ids change nothing, are counted as dedupe hits on
    // GET /metrics, and the ETag still matches.
    expect((await post(JSON.stringify({ events: events.map((e, i) => ({ ...e, carrierEventId: `replay-${String(i)}` })) }))).statusCode).toBe(202);
    await f.services.tracking.applier.kick();
    expect((await app.inject({ method: 'GET', url: '/track/HT1', headers: { 'if-none-match': String(etag) } })).statusCode).toBe(304);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const hits = [...metrics.matchAll(/^backend_tracking_dedupe_hits_total\{level="[a-z_]+"\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(hits).toBe(2);
    // A new scan changes the document: the old ETag gets the new one, never a stale 304.
    expect((await post(JSON.stringify({ events: [scan('HT1', 'out_for_delivery', at(9))] }))).statusCode).toBe(202);
    await f.services.tracking.applier.kick();
    const fresh = await app.inject({ method: 'GET', url: '/track/HT1', headers: { 'if-none-match': String(etag) } });
    expect(fresh.statusCode).toBe(200);
    expect(fresh.json()).toMatchObject({ status: 'out_for_delivery' });
    expect(fresh.headers['etag']).not.toBe(etag);
  });

  it('acknowledges fifty concurrent webhook posts and applies every event once', async () => {
    const posts = Array.from({ length: 50 }, (_, i) => post(JSON.stringify({ events: [scan(`CC-${String(i % 10)}`, 'in_transit', at(i), { carrierEventId: `cc-${String(i)}` })] })));
    const answers = await Promise.all(posts);
    expect(answers.map((r) => r.statusCode)).toEqual(Array.from({ length: 50 }, () => 202));
    await f.services.tracking.applier.drain();
    let history = 0;
    for (let n = 0; n < 10; n++) history += (await f.store.tracking.history(`CC-${String(n)}`)).length;
    expect(history).toBe(50);
    expect(await f.store.tracking.inboxSize()).toBe(0);
    const metrics = await (await f.app()).inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^backend_tracking_inbox_backlog 0$/m);
    expect(metrics.body).toMatch(/^backend_tracking_events_total\{outcome="applied"\} 50$/m);
  });

  it('answers a malformed payload with 400 and the reason, and keeps it as a dead letter', async () => {
    const bad = await post(JSON.stringify({ events: [{ trackingNumber: 'HT2', carrier: 'ups', status: 'teleported', carrierStatus: 'x', eventTime: 1 }] }));
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: { code: 'INVALID_INPUT' } });
    expect(String(bad.json<{ error: { message: string } }>().error.message)).toMatch(/status/);
    const broken = await post('{"events": [');
    expect(broken.statusCode).toBe(400);
    expect(broken.json<{ error: { message: string } }>().error.message).toMatch(/invalid JSON/);
    const dead = await f.store.tracking.deadLetters();
    expect(dead.map((d) => d.body)).toEqual(expect.arrayContaining(['{"events": [']));
    expect(dead).toHaveLength(2);
    expect(await f.store.tracking.inboxSize()).toBe(0);
  });

  it('moves the shipment when a late scan swaps one milestone for another', async () => {
    const o = await paidOrder(f, 'ord-swap', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'SW-1');
    await send([scan('SW-1', 'in_transit', at(20)), scan('SW-1', 'delivered', at(30))]);
    expect((await f.store.tracking.projection('SW-1'))?.projection.reached).toEqual(['in_transit', 'delivered']);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    // Out for delivery before the in-transit scan: in transit is now a step backwards.
    await send([scan('SW-1', 'out_for_delivery', at(10))]);
    expect([...((await f.store.tracking.projection('SW-1'))?.projection.reached ?? [])].sort()).toEqual(['delivered', 'out_for_delivery']);
    expect((await f.services.shipments.get(s.id)).state).toBe('out_for_delivery');
    expect((await f.store.notifications.list({ kind: 'shipment.out_for_delivery' })).filter((n) => n.payload['shipmentId'] === s.id)).toHaveLength(1);
  });

  it('tells the customer each time the parcel becomes stuck, once, and not of trouble already over', async () => {
    const o = await paidOrder(f, 'ord-episodes', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'EP-1');
    /** When each trouble the customer was told of began, in minutes of at(). */
    const told = async (): Promise<number[]> =>
      (await f.store.notifications.list({ kind: 'tracking.exception' }))
        .filter((n) => n.payload['shipmentId'] === s.id)
        .map((n) => ((n.payload['stuck'] as { since: number }).since - at(0)) / 60_000)
        .sort((a, b) => a - b);
    const stream = [
      scan('EP-1', 'picked_up', at(0), { carrierEventId: 'p1' }),
      scan('EP-1', 'exception', at(10), { carrierEventId: 'p2', carrierReason: 'weather' }),
      scan('EP-1', 'in_transit', at(20), { carrierEventId: 'p3' }),
      scan('EP-1', 'exception', at(30), { carrierEventId: 'p4', carrierReason: 'address unclear' }),
    ];
    await send(stream.slice(0, 2));
    expect(await told()).toEqual([10]);
    // Recovered, then stuck again, both in one poll: told again.
    await send(stream.slice(2));
    expect(await told()).toEqual([10, 30]);
    // The same scans replayed with fresh ids, a later scan of the same trouble, and an
    // earlier one that arrives late: the parcel stays stuck, nothing new is told.
    await send(stream.map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-again` })));
    await send([scan('EP-1', 'exception', at(50), { carrierReason: 'address unclear' })]);
    await send([scan('EP-1', 'exception', at(25), { carrierReason: 'address not found' })]);
    expect(await told()).toEqual([10, 30]);
    // Out for delivery, then stuck again: told, once however often the provider repeats it.
    await send([scan('EP-1', 'out_for_delivery', at(60))]);
    await send([scan('EP-1', 'exception', at(70), { carrierReason: 'nobody home' })]);
    await send([scan('EP-1', 'exception', at(70), { carrierReason: 'nobody home', carrierEventId: 'repeat' })]);
    expect(await told()).toEqual([10, 30, 70]);
    // Out for delivery again and stuck again in one poll: no new milestone and no new
    // status, yet new trouble.
    await send([scan('EP-1', 'out_for_delivery', at(75)), scan('EP-1', 'exception', at(78), { carrierReason: 'nobody home' })]);
    expect(await told()).toEqual([10, 30, 70, 78]);
    // Trouble backfilled from before the parcel's newest scan, already over: not told.
    await send([scan('EP-1', 'out_for_delivery', at(90))]);
    await send([scan('EP-1', 'exception', at(80), { carrierReason: 'sorting' })]);
    expect((await f.store.tracking.projection('EP-1'))?.projection.status).toBe('out_for_delivery');
    expect(await told()).toEqual([10, 30, 70, 78]);
  });

  it('joins carrier scans, the locker door and the order in one timeline, notifying each milestone once', async () => {
    const o = await paidOrder(f, 'ord-track', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TL-1');
    const stream: CanonicalTrackingEvent[] = [
      scan('TL-1', 'picked_up', at(0), { carrier: 'dhl', carrierEventId: 'e1' }),
      scan('TL-1', 'in_transit', at(10), { carrier: 'dhl', carrierEventId: 'e2' }),
      scan('TL-1', 'exception', at(20), { carrier: 'dhl', carrierEventId: 'e3', carrierReason: 'weather' }),
      scan('TL-1', 'in_transit', at(30), { carrier: 'dhl', carrierEventId: 'e4' }),
      scan('TL-1', 'out_for_delivery', at(40), { carrier: 'dhl', carrierEventId: 'e5' }),
    ];
    // Replayed out of order and with fresh ids, as a provider does after an incident.
    for (const batch of [[stream[4], stream[0]], [stream[2]], stream, stream.map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-replay` }))]) {
      await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, batch as CanonicalTrackingEvent[]);
      await f.services.tracking.applier.drain();
    }
    expect((await f.services.shipments.get(s.id)).state).toBe('out_for_delivery');
    expect((await f.services.orders.get(o.id)).state).toBe('out_for_delivery');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.parcels.collected(s.id, 'lk-a', { actor: 'locker' });
    await f.services.tracking.applier.drain();
    const view = (await (await f.app()).inject({ method: 'GET', url: '/track/TL-1' })).json<{ status: string; lockerId: string; history: Array<{ status: string }> }>();
    expect(view.status).toBe('collected');
    expect(view.lockerId).toBe('lk-a');
    expect(view.history.map((h) => h.status)).toEqual(['collected', 'available_for_pickup', 'out_for_delivery', 'in_transit', 'exception', 'in_transit', 'picked_up']);
    const kinds = (await f.store.notifications.list()).map((n) => n.kind).filter((k) => k.startsWith('shipment.') || k.startsWith('parcel.') || k.startsWith('tracking.'));
    // The exception scan arrived after out for delivery had been applied: the parcel had
    // recovered by then, and the customer is not told of trouble that is already over.
    expect(kinds.sort()).toEqual(['parcel.collected', 'parcel.ready_for_pickup', 'shipment.out_for_delivery', 'shipment.shipped']);
    expect(await f.store.tracking.flags()).toEqual([]);
  });

  it('turns POST /shipments/{id}/events into tracking events of the shipment and still refuses a step that does not apply', async () => {
    const o = await paidOrder(f, 'ord-api', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TL-2');
    // A provider's backlog waiting in the inbox: the API call applies its own number only.
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [scan('BACKLOG-1', 'in_transit', at(0))]);
    const app = await f.app();
    const shipped = await app.inject({ method: 'POST', url: `/shipments/${s.id}/events`, payload: { event: 'ship' } });
    expect(shipped.statusCode).toBe(200);
    expect(shipped.json()).toMatchObject({ state: 'shipped' });
    expect((await app.inject({ method: 'POST', url: `/shipments/${s.id}/events`, payload: { event: 'ship' } })).statusCode).toBe(422);
    expect((await f.store.tracking.history('TL-2')).map((h) => h.event.status)).toEqual(['picked_up']);
    expect(await f.store.tracking.inboxSize()).toBe(1);
  });

  it('never serves an ETA that has gone by for a parcel still on its way: it is estimated again when asked', async () => {
    const DAY = 86_400_000;
    await send([scan('LATE-1', 'in_transit', at(0), { estimatedDeliveryAt: f.clock.now() + DAY })]);
    const app = await f.app();
    const first = await app.inject({ method: 'GET', url: '/track/LATE-1' });
    expect(first.json()).toMatchObject({ status: 'in_transit', eta: f.clock.now() + DAY, etaSource: 'carrier' });
    // Three quiet days: the promise is missed and no scan rewrote the document.
    f.clock.advance(3 * DAY);
    const later = await app.inject({ method: 'GET', url: '/track/LATE-1', headers: { 'if-none-match': String(first.headers['etag']) } });
    expect(later.statusCode).toBe(200);
    const v = later.json<{ status: string; eta: number; etaEarliest: number; etaLatest: number; carrierPromise: number }>();
    expect(v.status).toBe('in_transit');
    expect(v.eta).toBeGreaterThanOrEqual(f.clock.now());
    expect(v.etaLatest).toBeGreaterThan(v.eta);
    // The carrier's missed promise is still shown as it was.
    expect(v.carrierPromise).toBe(f.clock.now() - 2 * DAY);
    // Whole hours, so the answer holds still while the parcel stays late: asked again within
    // the hour with that answer's tag, nothing changed; it may still come now.
    expect(v.eta % 3_600_000).toBe(0);
    expect(v.etaEarliest).toBeLessThanOrEqual(f.clock.now());
    for (const step of [60_000, 31 * 60_000, 27 * 60_000]) {
      f.clock.advance(step);
      expect((await app.inject({ method: 'GET', url: '/track/LATE-1', headers: { 'if-none-match': String(later.headers['etag']) } })).statusCode).toBe(304);
    }
    f.clock.advance(2 * 60_000);
    expect((await app.inject({ method: 'GET', url: '/track/LATE-1', headers: { 'if-none-match': String(later.headers['etag']) } })).statusCode).toBe(200);
  });

  it('serves a re-estimate still ahead as the estimator made it, not in whole hours', async () => {
    await send([scan('AHEAD-1', 'in_transit', at(0), { estimatedDeliveryAt: f.clock.now() + 3_600_000 })]);
    // The promise passes; the estimate falls back to the usual time from the last scan, still ahead.
    f.clock.advance(2 * 3_600_000 + 17_000);
    const served = (await (await f.app()).inject({ method: 'GET', url: '/track/AHEAD-1' })).json<{ eta: number; etaEarliest: number; etaLatest: number }>();
    const stored = await f.store.tracking.projection('AHEAD-1');
    const w = await f.services.tracking.eta(stored!.projection);
    expect(w!.eta).toBeGreaterThan(f.clock.now());
    // Its earliest is pinned to now (it may come any moment): the start of this hour, so the ETag holds.
    const hour = 3_600_000;
    expect(served).toMatchObject({ eta: w!.eta, etaLatest: w!.latest, etaEarliest: w!.earliest > f.clock.now() ? w!.earliest : Math.floor(w!.earliest / hour) * hour });
    const tag = (await (await f.app()).inject({ method: 'GET', url: '/track/AHEAD-1' })).headers['etag'];
    f.clock.advance(60_000);
    expect((await (await f.app()).inject({ method: 'GET', url: '/track/AHEAD-1', headers: { 'if-none-match': String(tag) } })).statusCode).toBe(304);
  });

  it('refuses a shipment whose tracking number the timeline could never follow', async () => {
    const o = await paidOrder(f, 'ord-format', [{ lineId: 'l1', size: 'M' }]);
    const app = await f.app();
    const create = (trackingNumber: string) =>
      app.inject({ method: 'POST', url: `/orders/${o.id}/shipments`, payload: { lineIds: ['l1'], carrier: 'dhl', trackingNumber, delivery: { lockerId: 'lk-a', size: 'M' } } });
    const refused = await create('TRK*0001');
    expect(refused.statusCode).toBe(400);
    expect(refused.json<{ error: { details: { issues: Array<{ message: string }> } } }>().error.details.issues[0]?.message).toMatch(/tracking number: letters, digits/);
    // Spaces around a number are not part of it: the shipment and its timeline agree.
    const made = await create(' TL-FMT-1 ');
    expect(made.statusCode).toBe(201);
    expect(made.json()).toMatchObject({ trackingNumber: 'TL-FMT-1' });
  });

  it('refuses at creation a shipment whose carrier the tracking intake would refuse, instead of every carrier step', async () => {
    const o = await paidOrder(f, 'ord-carrier', [{ lineId: 'l1', size: 'M' }]);
    const app = await f.app();
    const create = (carrier: string) =>
      app.inject({ method: 'POST', url: `/orders/${o.id}/shipments`, payload: { lineIds: ['l1'], carrier, trackingNumber: 'TL-CAR-1', delivery: { lockerId: 'lk-a', size: 'M' } } });
    for (const carrier of ['   ', '', 'x'.repeat(65)]) {
      const refused = await create(carrier);
      expect(refused.statusCode, JSON.stringify(carrier)).toBe(400);
      expect(JSON.stringify(refused.json<{ error: { details: unknown } }>().error.details)).toContain('carrier');
    }
    // A name the intake normalises ("DHL Express" is dhl_express) is a carrier it tracks.
    const made = await create('DHL Express');
    expect(made.statusCode).toBe(201);
    const shipped = await app.inject({ method: 'POST', url: `/shipments/${made.json<{ id: string }>().id}/events`, payload: { event: 'ship' } });
    const track = await app.inject({ method: 'GET', url: '/track/TL-CAR-1' });
    expect({ ship: shipped.statusCode, status: track.json<{ status: string }>().status }).toEqual({ ship: 200, status: 'picked_up' });
  });

  it('shows the inbox backlog and how long its oldest event has waited on GET /metrics', async () => {
    const metrics = async (): Promise<string> => (await (await f.app()).inject({ method: 'GET', url: '/metrics' })).body;
    expect(await metrics()).toMatch(/^backend_tracking_inbox_oldest_age_seconds 0$/m);
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [scan('WAIT-1', 'in_transit', at(0)), scan('WAIT-2', 'in_transit', at(1))]);
    f.clock.advance(90_000);
    await f.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: f.clock.now() }, [scan('WAIT-3', 'in_transit', at(2))]);
    const body = await metrics();
    expect(body).toMatch(/^backend_tracking_inbox_backlog 3$/m);
    expect(body).toMatch(/^backend_tracking_inbox_oldest_age_seconds 90$/m);
    await f.services.tracking.applier.drain();
    expect(await metrics()).toMatch(/^backend_tracking_inbox_oldest_age_seconds 0$/m);
  });
});
