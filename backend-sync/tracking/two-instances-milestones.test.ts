import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { dropSchema, freshSchemaName, pgSuitesRun } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';

// Two backend instances on one PostgreSQL schema receive the same carrier burst (each from
// its own provider connection, the second copy with fresh event ids) and apply it at once:
// each shipment moves once per step and each customer notice exists once.

const runs = await pgSuitesRun('tracking milestones on two instances');

describe.runIf(runs)('tracking milestones with two instances on one PostgreSQL database', () => {
  let a: BackendFixture;
  let b: BackendFixture;
  const schema = freshSchemaName();
  beforeAll(async () => {
    a = await makeBackend({ engine: 'postgres', pgSchema: schema });
    b = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: a.dir, clock: a.clock });
    await a.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 10 }));
  });
  afterAll(async () => {
    await b.close();
    await a.close();
    await dropSchema(schema);
  });

  it('moves every shipment and notifies every milestone exactly once', async () => {
    const shipments: Array<{ orderId: string; shipmentId: string; tn: string }> = [];
    for (let i = 0; i < 6; i++) {
      const o = await paidOrder(a, `ord-tm-${String(i)}`, [{ lineId: 'l1', size: 'M' }]);
      const s = await ship(a, o.id, ['l1'], 'lk-a', 'M', `TM-${String(i)}`);
      shipments.push({ orderId: o.id, shipmentId: s.id, tn: `TM-${String(i)}` });
    }
    const t0 = a.clock.now() - 5 * 3_600_000;
    const burst: CanonicalTrackingEvent[] = shipments.flatMap(({ tn }) =>
      (['picked_up', 'in_transit', 'exception', 'out_for_delivery', 'exception'] as const).map((status, k) => scan(tn, status, t0 + k * 20 * 60_000, { carrier: 'dhl', carrierEventId: `${tn}-${String(k)}` })),
    );
    await a.services.tracking.intake.accept({ source: 'canonical', body: '{}', receivedAt: a.clock.now() }, burst);
    await b.services.tracking.intake.accept({ source: 'poll', body: '{}', receivedAt: a.clock.now() }, [...burst].reverse().map((e) => ({ ...e, carrierEventId: `${String(e.carrierEventId)}-poll` })));
    await Promise.all([a.services.tracking.applier.drain(), b.services.tracking.applier.drain(), a.services.tracking.applier.drain(), b.services.tracking.applier.drain()]);

    expect(await a.store.tracking.deadLetters()).toEqual([]);
    const notes = await a.store.notifications.list();
    for (const s of shipments) {
      expect((await a.services.shipments.get(s.shipmentId)).state).toBe('out_for_delivery');
      const kinds = notes.filter((n) => n.payload['shipmentId'] === s.shipmentId).map((n) => n.kind).sort();
      expect(kinds).toEqual(['shipment.out_for_delivery', 'shipment.shipped', 'tracking.exception']);
      expect((await a.store.tracking.history(s.tn)).length).toBe(5);
    }
  });
});
