import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../../testing/backend-fixture.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { scan } from '../../testing/tracking-helpers.js';
import type { CanonicalTrackingEvent } from '../tracking-event.js';

// The ETA GET /track serves, in the running backend: the carrier's promise while nothing is
// learned; once shipments of a carrier have arrived, their leg times (learned when each
// arrives) refine the promise or stand in for it; exception widens the late side.

const H = 3_600_000;

const engines = await testEngines('learned-leg ETA');

describe.each(engines)('learned-leg ETA through GET /track on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
  });
  afterEach(() => f.close());

  const send = async (events: CanonicalTrackingEvent[]) => {
    const res = await (await f.app()).inject({ method: 'POST', url: '/tracking/events', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ events }) });
    expect(res.statusCode).toBe(202);
    // The route kicks the applier; kick() joins that drain (on PostgreSQL a second drain
    // would skip the rows the first holds and return at once).
    await f.services.tracking.applier.kick();
    expect(await f.store.tracking.inboxSize()).toBe(0);
  };
  const track = async (tn: string) => (await (await f.app()).inject({ method: 'GET', url: `/track/${tn}` })).json<{ status: string; eta: number | null; etaEarliest: number | null; etaLatest: number | null; etaSource: string | null }>();

  it('serves the promise first, then learned legs from arrived shipments, widened in exception', async () => {
    const now = f.clock.now();
    // No history for this carrier: the promise is the ETA.
    await send([scan('P1', 'in_transit', now - H, { carrier: 'dhl', estimatedDeliveryAt: now + 30 * H })]);
    expect(await track('P1')).toMatchObject({ etaSource: 'carrier', eta: now + 30 * H });

    // Six dhl shipments took 20 h from in_transit to delivery (±1 h).
    const legs = [19, 20, 21, 20, 19, 21];
    for (const [i, h] of legs.entries()) {
      const t0 = now - 10 * 24 * H + i * H;
      await send([scan(`L${String(i)}`, 'in_transit', t0, { carrier: 'dhl' }), scan(`L${String(i)}`, 'delivered', t0 + h * H, { carrier: 'dhl' })]);
    }
    // A new dhl parcel without a promise: the learned 20 h from its scan.
    const scanAt = now - 2 * H;
    await send([scan('N1', 'in_transit', scanAt, { carrier: 'dhl' })]);
    const n1 = await track('N1');
    expect(n1.etaSource).toBe('estimate');
    expect(Math.abs((n1.eta ?? 0) - (scanAt + 20 * H))).toBeLessThan(60_000);
    expect(n1.etaEarliest).toBeLessThan(n1.eta ?? 0);
    expect(n1.etaLatest).toBeGreaterThan(n1.eta ?? 0);

    // With a promise as well, the learned legs pull it towards them (refined, still 'estimate').
    await send([scan('N2', 'in_transit', scanAt, { carrier: 'dhl', estimatedDeliveryAt: now + 40 * H })]);
    const n2 = await track('N2');
    expect(n2.etaSource).toBe('estimate');
    expect(n2.eta).toBeGreaterThan(scanAt + 20 * H);
    expect(n2.eta).toBeLessThan(now + 40 * H);

    // In exception the late side of the window widens.
    await send([scan('N1', 'exception', scanAt + 60_000, { carrier: 'dhl', carrierReason: 'address problem' })]);
    const n1x = await track('N1');
    expect(n1x.status).toBe('exception');
    expect((n1x.etaLatest ?? 0) - (n1x.eta ?? 0)).toBeGreaterThan(((n1.etaLatest ?? 0) - (n1.eta ?? 0)) * 2);

    // Delivered: no ETA any more.
    await send([scan('N1', 'delivered', now - H, { carrier: 'dhl' })]);
    expect(await track('N1')).toMatchObject({ status: 'delivered', eta: null, etaSource: null });
    // Another carrier learned nothing from dhl's parcels.
    await send([scan('U1', 'in_transit', scanAt, { carrier: 'ups', estimatedDeliveryAt: now + 50 * H })]);
    expect(await track('U1')).toMatchObject({ etaSource: 'carrier', eta: now + 50 * H });
  });

  it('one parcel held ten days in exception does not move the in_transit ETA of the carrier\'s other parcels', async () => {
    const now = f.clock.now();
    // Six shipments: in_transit → delivered in 20 h.
    for (let i = 0; i < 6; i++) {
      const t0 = now - 30 * 24 * H + i * H;
      await send([scan(`N${String(i)}`, 'in_transit', t0), scan(`N${String(i)}`, 'delivered', t0 + 20 * H)]);
    }
    // One in transit, ten days in customs, recovered, delivered 20 h later.
    const t0 = now - 20 * 24 * H;
    await send([
      scan('X1', 'in_transit', t0),
      scan('X1', 'exception', t0 + 2 * H, { carrierReason: 'customs hold' }),
      scan('X1', 'in_transit', t0 + 10 * 24 * H),
      scan('X1', 'delivered', t0 + 10 * 24 * H + 20 * H),
    ]);
    const scanAt = now - H;
    await send([scan('Q1', 'in_transit', scanAt)]);
    const q1 = await track('Q1');
    expect(q1.etaSource).toBe('estimate');
    // The held parcel's legs are 22 h and 20 h of moving: (6·20 + 22 + 20) / 8 = 20.25 h.
    expect(q1.eta).toBe(scanAt + 20.25 * H);
  });

  it('learns no leg from a scan the fold flagged: a stray picked_up after out_for_delivery', async () => {
    const now = f.clock.now();
    const t0 = now - 5 * 24 * H;
    await send([scan('FL1', 'picked_up', t0), scan('FL1', 'in_transit', t0 + 10 * H), scan('FL1', 'out_for_delivery', t0 + 40 * H)]);
    await send([scan('FL1', 'picked_up', t0 + 41 * H)]); // backwards: flagged, never applied
    await send([scan('FL1', 'delivered', t0 + 41.5 * H)]);
    expect(await track('FL1')).toMatchObject({ status: 'delivered' });
    expect((await f.store.legStats.all())['ups']?.picked_up).toEqual({ count: 1, mean: 41.5 * H, m2: 0, shipments: 1 });
  });
});
