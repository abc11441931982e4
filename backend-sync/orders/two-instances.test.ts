import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackendError } from '../shared/errors.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { dropSchema, freshSchemaName, pgSuitesRun } from '../testing/pg-test-db.js';

// Two backend instances on one PostgreSQL schema, each with its own pool, doing the same
// work at the same moment: what one process on SQLite got for free (one writer at a time)
// must now come from the database. Every race here is run for real on PostgreSQL.

const runs = await pgSuitesRun('two backend instances on PostgreSQL');

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles every promise; the values and the errors, in order. */
async function settle<T>(work: ReadonlyArray<Promise<T>>): Promise<Array<{ ok: true; value: T } | { ok: false; err: unknown }>> {
  return Promise.all(work.map((p) => p.then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err }))));
}

describe.skipIf(!runs)('two backend instances on one PostgreSQL database', () => {
  let a: BackendFixture;
  let b: BackendFixture;
  let schema: string;
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  beforeEach(async () => {
    schema = freshSchemaName();
    schemas.push(schema);
    a = await makeBackend({ engine: 'postgres', pgSchema: schema });
    b = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: a.dir, clock: a.clock });
    await a.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { S: 10, M: 10 }));
  });
  afterEach(async () => {
    await b.close();
    await a.close();
  });

  it('derives "delivered" when the two parcels of an order are deposited on different instances at once', async () => {
    const orders = [];
    for (let i = 0; i < 6; i++) {
      const o = await paidOrder(a, `ord-two-${String(i)}`, [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'S' }]);
      const s1 = await ship(a, o.id, ['l1'], 'lk-a', 'M', `TRK-${String(i)}-1`);
      const s2 = await ship(a, o.id, ['l2'], 'lk-a', 'S', `TRK-${String(i)}-2`);
      orders.push({ o, s1, s2 });
    }
    const at = a.clock.now();
    const outcomes = await Promise.all(
      orders.flatMap(({ s1, s2 }) => [
        a.services.parcels.deposited(s1.id, 'lk-a', undefined, at, { actor: 'locker' }),
        b.services.parcels.deposited(s2.id, 'lk-a', undefined, at, { actor: 'locker' }),
      ]),
    );
    expect(outcomes.every((x) => x === 'applied')).toBe(true);
    for (const { o } of orders) {
      const view = await b.services.orders.get(o.id);
      expect(view.shipments.map((s) => s.state)).toEqual(['delivered', 'delivered']);
      expect(view.state).toBe('delivered');
    }
  });

  it('puts an order line into one shipment when two instances create shipments for it at once', async () => {
    const o = await paidOrder(a, 'ord-two-lines', [{ lineId: 'l1', size: 'M' }]);
    const results = await settle([
      a.services.shipments.create(o.id, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: 'TRK-A', delivery: { lockerId: 'lk-a', size: 'M' } }, 'merchant'),
      b.services.shipments.create(o.id, { lineIds: ['l1'], carrier: 'dhl', trackingNumber: 'TRK-B', delivery: { lockerId: 'lk-a', size: 'M' } }, 'merchant'),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    const refused = results.find((r) => !r.ok);
    expect(refused !== undefined && !refused.ok && (isBackendError(refused.err, 'BUSINESS_RULE') || isBackendError(refused.err, 'CONFLICT'))).toBe(true);
    const view = await a.services.orders.get(o.id);
    expect(view.shipments).toHaveLength(1);
    expect(view.lines[0]?.shipmentId).toBe(view.shipments[0]?.id);
    expect((await a.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'reserved')).toHaveLength(1);
  });

  it('holds once for one Idempotency-Key sent to both instances at once', async () => {
    const req = { orderRef: 'cart-both', lockerId: 'lk-a', size: 'M' as const };
    const [x, y] = await Promise.all([a.services.reservations.reserveGrouped('key-both-1', req), b.services.reservations.reserveGrouped('key-both-1', req)]);
    expect(x.body).toEqual(y.body);
    expect([x.replayed, y.replayed].sort()).toEqual([false, true]);
    expect((await a.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'held')).toHaveLength(1);
  });

  it('expires each hold and each parcel once when both instances sweep at the same moment', async () => {
    const holds = [];
    for (let i = 0; i < 8; i++) holds.push((await a.services.reservations.reserve(`key-sweep-${String(i)}`, { orderRef: `c${String(i)}`, lockerId: 'lk-a', size: 'S' })).body);
    const o = await paidOrder(a, 'ord-two-expire', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(a, o.id, ['l1'], 'lk-a', 'M', 'TRK-EXP');
    await a.services.parcels.deposited(s.id, 'lk-a', undefined, a.clock.now(), { actor: 'locker' });
    const versionBefore = (await a.store.codeSets.get('lk-a'))!.version;
    a.clock.advance(72 * 3_600_000 + 1);
    const [ra, rb, pa, pb] = await Promise.all([a.services.reservations.sweep(), b.services.reservations.sweep(), a.services.parcels.expireDue(), b.services.parcels.expireDue()]);
    expect(ra + rb).toBe(8);
    expect(pa + pb).toBe(1);
    for (const h of holds) expect((await a.store.stateLog.list('reservation', h.id)).map((e) => e.to)).toEqual(['held', 'expired']);
    expect((await a.store.stateLog.list('shipment', s.id)).filter((e) => e.to === 'expired')).toHaveLength(1);
    // One revocation, one version: not two contents for two versions.
    expect((await a.store.codeSets.get('lk-a'))!.version).toBe(versionBefore + 1);
  });

  it('pays each refund once and sends each notification once when an instance drains while the other is busy with a pass', async () => {
    const orderIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const o = await paidOrder(a, `ord-two-refund-${String(i)}`, [{ lineId: 'l1', size: 'M', unitPriceCents: 700 }]);
      orderIds.push(o.id);
    }
    // Queued without a refund pass running, so both instances find them waiting.
    for (const id of orderIds) await b.store.refunds.insert({ id: `ref-${id}`, orderId: id, amountCents: 700, state: 'pending', reason: 'test', createdAt: a.clock.now() });
    // The provider and the channel take a while, as real ones do, and B looks for work
    // while A's pass is still busy with what it took.
    for (const f of [a, b]) {
      const refund = f.payments.refund.bind(f.payments);
      f.payments.refund = async (req) => {
        await pause(20);
        return refund(req);
      };
      const send = f.inbox.send.bind(f.inbox);
      f.inbox.send = async (n) => {
        await pause(5);
        return send(n);
      };
    }
    const [na, nb] = await Promise.all([a.services.orders.processRefunds(), pause(10).then(() => b.services.orders.processRefunds())]);
    expect(na + nb).toBe(4);
    // Each instance has its own simulated provider: together they were asked four times.
    expect(a.payments.refunds.size + b.payments.refunds.size).toBe(4);
    for (const id of orderIds) expect((await a.services.orders.get(id)).refunds.map((r) => r.state)).toEqual(['succeeded']);

    const backlog = await a.store.notifications.backlog();
    expect(backlog).toBeGreaterThan(8);
    const [sa, sb] = await Promise.all([a.services.outbox.drain(), pause(10).then(() => b.services.outbox.drain())]);
    expect(sa + sb).toBe(backlog);
    const sent = [...a.inbox.sent, ...b.inbox.sent].map((n) => n.id);
    expect(new Set(sent).size).toBe(sent.length);
    expect(sent).toHaveLength(backlog);
  });
});
