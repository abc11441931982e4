import { afterEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { paidOrder } from '../../testing/order-helpers.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { CanonicalTrackingEvent } from '../tracking-event.js';
import { scan, SimulatedCarrierApi } from './testing/simulated-carrier-api.js';

// The poller in the running backend: a shipment's creation and every webhook keep its
// number's schedule entry (the applier notes its news), a shipment whose webhooks go quiet,
// or never came, is polled from the carrier's API on loopback, and the polled scan goes
// through the same intake and applier into GET /track and the shipment; a shipment whose
// webhooks keep coming is left alone.

const HOUR = 3_600_000;
let api: SimulatedCarrierApi | undefined;
let f: BackendFixture | undefined;
afterEach(async () => {
  await f?.close();
  await api?.close();
  f = undefined;
  api = undefined;
});

const webhookScan = (tn: string, status: CanonicalTrackingEvent['status'], eventTime: number, id: string): CanonicalTrackingEvent => ({
  trackingNumber: tn,
  carrier: 'simpost',
  carrierEventId: id,
  status,
  carrierStatus: status.toUpperCase(),
  eventTime,
  location: { city: 'Lyon', country: 'FR' },
});

const engines = await testEngines('tracking polling in the backend');

/** A backend polling the simulated carrier API on loopback (both closed after each test). */
async function pollingBackend(engine: (typeof engines)[number]): Promise<{ backend: BackendFixture; carrier: SimulatedCarrierApi }> {
  api = new SimulatedCarrierApi();
  const baseUrl = await api.start();
  f = await makeBackend({ engine, config: { trackingPolling: { enabled: true, carriers: [{ carrier: 'simpost', baseUrl, requestsPerSecond: 50, burst: 5 }] } } });
  return { backend: f, carrier: api };
}

describe.each(engines)('tracking polling in the backend on %s', (engine) => {
  it('polls a shipment whose webhooks went quiet, serves the polled scan from GET /track, and leaves a webhook-fed one alone', async () => {
    const { backend, carrier: api } = await pollingBackend(engine);
    const poller = backend.services.tracking.poller;
    expect(poller).toBeDefined();
    const app = await backend.app();
    const post = async (events: CanonicalTrackingEvent[]) => {
      const res = await app.inject({ method: 'POST', url: '/tracking/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ events }) });
      expect(res.statusCode).toBe(202);
      // Joins the drain the route kicked (a second drain would skip its rows on PostgreSQL).
      await backend.services.tracking.applier.kick();
    };
    const t0 = backend.clock.now();
    await post([webhookScan('QUIET1', 'in_transit', t0 - HOUR, 'q-1'), webhookScan('FRESH1', 'in_transit', t0 - HOUR, 'f-1')]);
    expect(await backend.store.pollSchedule.claimDue(t0, 10, 60_000)).toEqual([]); // webhooks are active: nothing due yet

    // 13 hours later (in_transit goes quiet after 12): FRESH1 had a webhook an hour ago, QUIET1 none.
    backend.clock.advance(12 * HOUR);
    await post([webhookScan('FRESH1', 'in_transit', backend.clock.now() - 60_000, 'f-2')]);
    backend.clock.advance(HOUR);
    api.setShipment('QUIET1', [scan('q-1', 'IT', t0 - HOUR), scan('q-2', 'OD', backend.clock.now() - 30 * 60_000, 'Paris')]);
    api.setShipment('FRESH1', [scan('f-1', 'IT', t0 - HOUR), scan('f-3', 'OD', backend.clock.now() - 10 * 60_000)]);

    expect(await poller!.run()).toBe(1);
    expect(api.requests.flatMap((r) => r.numbers)).toEqual(['QUIET1']);
    await backend.services.tracking.applier.kick();
    expect(await backend.store.tracking.inboxSize()).toBe(0);
    const quiet = await app.inject({ method: 'GET', url: '/track/QUIET1' });
    expect(quiet.json()).toMatchObject({ status: 'out_for_delivery', lastLocation: { city: 'Paris' } });
    // The replayed first scan is recognised (composite level), not stored twice.
    expect((await backend.store.tracking.history('QUIET1')).map((h) => [h.source, h.event.status])).toEqual([
      ['canonical', 'in_transit'],
      ['poll', 'out_for_delivery'],
    ]);
    expect((await app.inject({ method: 'GET', url: '/track/FRESH1' })).json()).toMatchObject({ status: 'in_transit' });

    // Once polled, QUIET1 stays on the out-for-delivery cadence; FRESH1 is still not due.
    const entry = await backend.store.pollSchedule.claimDue(backend.clock.now() + 15 * 60_000, 10, 60_000);
    expect(entry.map((e) => [e.trackingNumber, e.mode, e.status])).toEqual([['QUIET1', 'polling', 'out_for_delivery']]);
  });

  it('polls a shipment no webhook ever came for, and starts over for a number the carrier recycled', async () => {
    const { backend, carrier: api } = await pollingBackend(engine);
    const poller = backend.services.tracking.poller!;
    await backend.services.lockers.register(lockerInput('lk-p', 52.52, 13.405, { M: 2 }));
    // The recycled number's old parcel: delivered 200 days ago, its entry stopped since.
    const t0 = backend.clock.now();
    await backend.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: t0 }, [
      webhookScan('REUSED1', 'in_transit', t0 - 200 * 24 * HOUR, 'r-1'),
      webhookScan('REUSED1', 'delivered', t0 - 199 * 24 * HOUR, 'r-2'),
    ]);
    await backend.services.tracking.applier.drain();
    const ship = async (key: string, tn: string) => {
      const o = await paidOrder(backend, key, [{ lineId: 'l1', size: 'M' }]);
      return backend.services.shipments.create(o.id, { lineIds: ['l1'], carrier: 'SimPost', trackingNumber: tn, delivery: { lockerId: 'lk-p', size: 'M' } }, 'test');
    };
    const silent = await ship('ord-silent', 'SILENT1');
    const reused = await ship('ord-reused', 'REUSED1');
    api.setShipment('SILENT1', [scan('s-1', 'PU', t0 + HOUR)]);
    api.setShipment('REUSED1', [scan('r-3', 'LC', t0 + HOUR), scan('r-4', 'PU', t0 + 2 * HOUR)]);

    // No webhook for 48 hours: both numbers are promoted to polling, in one request.
    backend.clock.advance(48 * HOUR - 1);
    expect(await poller.run()).toBe(0);
    backend.clock.advance(1);
    expect(await poller.run()).toBe(2);
    expect(api.requests.flatMap((r) => r.numbers).sort()).toEqual(['REUSED1', 'SILENT1']);
    await backend.services.tracking.applier.kick();
    expect((await backend.services.shipments.get(silent.id)).state).toBe('shipped');
    expect((await backend.services.shipments.get(reused.id)).state).toBe('shipped');
    expect(await backend.store.pollSchedule.get('REUSED1')).toMatchObject({ status: 'picked_up', mode: 'polling' });
  });

  it("stops polling a cancelled shipment's number unless another shipment still waits for it, and polls it again for a new shipment", async () => {
    const { backend, carrier: api } = await pollingBackend(engine);
    const poller = backend.services.tracking.poller!;
    await backend.services.lockers.register(lockerInput('lk-c', 52.52, 13.405, { M: 4 }));
    const ship = async (key: string, tn: string) => {
      const o = await paidOrder(backend, key, [{ lineId: 'l1', size: 'M' }]);
      const s = await backend.services.shipments.create(o.id, { lineIds: ['l1'], carrier: 'SimPost', trackingNumber: tn, delivery: { lockerId: 'lk-c', size: 'M' } }, 'test');
      return { orderId: o.id, shipmentId: s.id };
    };
    const alone = await ship('ord-alone', 'CANC1');
    const first = await ship('ord-first', 'SHARED1');
    await ship('ord-second', 'SHARED1');
    api.setShipment('CANC1', [scan('c-1', 'PU', backend.clock.now() + HOUR)]);
    api.setShipment('SHARED1', [scan('s-1', 'PU', backend.clock.now() + HOUR)]);
    await backend.services.orders.cancel(alone.orderId, { reason: 'customer changed mind' }, 'merchant');
    await backend.services.orders.cancel(first.orderId, { reason: 'customer changed mind' }, 'merchant');
    expect(await backend.store.pollSchedule.get('CANC1')).toMatchObject({ nextPollAt: null });

    backend.clock.advance(48 * HOUR);
    expect(await poller.run()).toBe(1);
    expect(api.requests.flatMap((r) => r.numbers)).toEqual(['SHARED1']);

    // A month later the merchant ships under the cancelled number after all: it is covered again.
    backend.clock.advance(29 * 24 * HOUR);
    const again = await ship('ord-again', 'CANC1');
    api.setShipment('CANC1', [scan('c-2', 'PU', backend.clock.now() + HOUR)]);
    backend.clock.advance(48 * HOUR);
    await poller.run();
    expect(api.requests.flatMap((r) => r.numbers)).toContain('CANC1');
    await backend.services.tracking.applier.kick();
    expect((await backend.services.shipments.get(again.shipmentId)).state).toBe('shipped');
  });

  it('stops polling a number whose shipment is cancelled while its poll is in flight', async () => {
    const { backend, carrier: api } = await pollingBackend(engine);
    const poller = backend.services.tracking.poller!;
    await backend.services.lockers.register(lockerInput('lk-w', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(backend, 'ord-w', [{ lineId: 'l1', size: 'M' }]);
    await backend.services.shipments.create(o.id, { lineIds: ['l1'], carrier: 'SimPost', trackingNumber: 'WDRAW1', delivery: { lockerId: 'lk-w', size: 'M' } }, 'test');
    api.setShipment('WDRAW1', [scan('w-1', 'LC', backend.clock.now() + HOUR)]);
    backend.clock.advance(48 * HOUR);
    api.setDelay(300);
    const round = poller.run();
    await new Promise((r) => setTimeout(r, 80));
    await backend.services.orders.cancel(o.id, { reason: 'customer changed mind' }, 'merchant');
    await round;
    api.setDelay(0);
    await backend.services.tracking.applier.kick();
    expect(await backend.store.pollSchedule.get('WDRAW1')).toMatchObject({ nextPollAt: null, leaseUntil: null });
    for (let d = 0; d < 10; d++) {
      backend.clock.advance(24 * HOUR);
      await poller.run();
    }
    expect(api.requests.flatMap((r) => r.numbers)).toEqual(['WDRAW1']);
  });
});
