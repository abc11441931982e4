import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { OrderLineRecord, OrderRecord, ShipmentRecord } from '../records.js';
import { SqlOrderRepository, SqlShipmentRepository } from '../sql/order-repositories.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import type { CustomerOrderQuery } from '../store.js';
import { sql } from '../sql/sql-text.js';

// The order and shipment repositories' contract, on every engine: optimistic updates win
// once per version, line and shipment patches touch only what they name, the pending
// code is handed out once, and the pickup-deadline sweep spreads over instances.

const dir = mkdtempSync(join(tmpdir(), 'order-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('order repositories contract');
const T = 1_800_000_000_000;

function order(id: string, over: Partial<OrderRecord> = {}): OrderRecord {
  return { id, state: 'placed', customer: { name: 'Ada', email: 'ada@example.org' }, totalCents: 2500, currency: 'EUR', version: 1, createdAt: T, updatedAt: T, ...over };
}

function line(orderId: string, lineId: string): OrderLineRecord {
  return { orderId, lineId, sku: `sku-${lineId}`, quantity: 2, unitPriceCents: 500, size: 'M', state: 'open' };
}

function shipment(id: string, over: Partial<ShipmentRecord> = {}): ShipmentRecord {
  return { id, orderId: 'o1', state: 'created', carrier: 'dhl', trackingNumber: `TN-${id}`, lockerId: 'lk', compartmentId: 'M01', size: 'M', version: 1, createdAt: T, updatedAt: T, ...over };
}

describe.each(engines)('OrderRepository and ShipmentRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let orders: SqlOrderRepository;
  let shipments: SqlShipmentRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    orders = new SqlOrderRepository(x);
    shipments = new SqlShipmentRepository(x);
    await orders.insert(order('o1'), [line('o1', 'a'), line('o1', 'b'), line('o1', 'c')]);
  });
  afterEach(() => dispose());

  it('an order and its lines round-trip, the customer through its schema', async () => {
    await orders.insert(order('o2', { customer: { name: 'Bob', phone: '+49 30 1234567' } }), [line('o2', 'x')]);
    expect(await orders.get('o2')).toEqual({ id: 'o2', state: 'placed', customer: { name: 'Bob', phone: '+49 30 1234567' }, totalCents: 2500, currency: 'EUR', version: 1, createdAt: T, updatedAt: T });
    expect(await orders.lines('o1')).toEqual(['a', 'b', 'c'].map((l) => line('o1', l)));
    expect(await orders.get('nope')).toBeUndefined();
  });

  it('an order whose lines cannot all be stored is not stored at all', async () => {
    await expect(orders.insert(order('o3'), [line('o3', 'a'), line('o3', 'a')])).rejects.toThrow();
    expect(await orders.get('o3')).toBeUndefined();
    expect(await orders.lines('o3')).toEqual([]);
  });

  it('a corrupt customer is refused with the order named, not read as a customer', async () => {
    await x.run(sql(`UPDATE orders SET customer_json = '{"email":"ada@example.org"}' WHERE id = 'o1'`));
    await expect(orders.get('o1')).rejects.toMatchObject({ name: 'BackendError', code: 'INTERNAL' });
    await expect(orders.get('o1')).rejects.toThrow(/corrupt row in orders \(id=o1\): customer_json does not match its schema \(name:/);
  });

  it('updateState wins once per version', async () => {
    expect(await orders.updateState('o1', 'payment_confirmed', 1, T + 1)).toBe(true);
    expect(await orders.updateState('o1', 'cancelled', 1, T + 2)).toBe(false);
    expect(await orders.get('o1')).toMatchObject({ state: 'payment_confirmed', version: 2, updatedAt: T + 1 });
    await orders.setPaymentRef('o1', 'pay-1');
    expect((await orders.get('o1'))?.paymentRef).toBe('pay-1');
  });

  it('a pending capture is answered by the recorded capture or by a decline of its own key only', async () => {
    expect(await orders.markCapturePending('o1', 1, T)).toBe(false); // not the order's key: no decline counted yet
    expect(await orders.markCapturePending('o1', 0, T)).toBe(true);
    expect((await orders.get('o1'))?.capturePending).toBe(0);
    expect(await orders.countDeclinedCapture('o1', 0)).toBe(true);
    expect((await orders.get('o1'))?.capturePending).toBeUndefined();
    expect(await orders.markCapturePending('o1', 1, T)).toBe(true);
    expect(await orders.countDeclinedCapture('o1', 0)).toBe(false); // a late decline of the old key
    expect((await orders.get('o1'))?.capturePending).toBe(1);
    await orders.setPaymentRef('o1', 'pay-1');
    expect((await orders.get('o1'))?.capturePending).toBeUndefined();
    expect(await orders.markCapturePending('o1', 1, T)).toBe(false); // captured: nothing pending again
  });

  it('claims due pending captures under a lease, a cancelled order at once and a placed one after the grace', async () => {
    await orders.insert(order('o2', { state: 'cancelled' }), [line('o2', 'a')]);
    await orders.insert(order('o3'), [line('o3', 'a')]);
    await orders.markCapturePending('o1', 0, T);
    await orders.markCapturePending('o2', 0, T);
    await orders.markCapturePending('o3', 0, T + 5);
    const GRACE = 100;
    const LEASE = 10;
    expect(await orders.claimPendingCaptures(T - 1, GRACE, LEASE, 10)).toEqual([]);
    expect((await orders.claimPendingCaptures(T, GRACE, LEASE, 10)).map((o) => o.id)).toEqual(['o2']);
    expect(await orders.claimPendingCaptures(T + LEASE - 1, GRACE, LEASE, 10)).toEqual([]); // leased
    expect((await orders.claimPendingCaptures(T + GRACE, GRACE, LEASE, 10)).map((o) => o.id).sort()).toEqual(['o1', 'o2']);
    expect(await orders.claimPendingCapture('o3', T + 4, LEASE)).toBeUndefined();
    expect((await orders.claimPendingCapture('o3', T + 5, LEASE))?.capturePending).toBe(0);
    expect(await orders.claimPendingCapture('o3', T + 6, LEASE)).toBeUndefined();
  });

  it('setLines changes only the named lines of that order, and only what it is told', async () => {
    await orders.insert(order('o2'), [line('o2', 'a')]);
    await orders.setLines('o1', ['a', 'c'], { shipmentId: 's1' });
    await orders.setLines('o1', ['c'], { state: 'cancelled' });
    expect((await orders.lines('o1')).map((l) => [l.lineId, l.state, l.shipmentId])).toEqual([
      ['a', 'open', 's1'],
      ['b', 'open', undefined],
      ['c', 'cancelled', 's1'],
    ]);
    await orders.setLines('o1', ['a'], { state: 'cancelled', shipmentId: null });
    expect((await orders.lines('o1'))[0]).toEqual({ ...line('o1', 'a'), state: 'cancelled' });
    expect(await orders.lines('o2')).toEqual([line('o2', 'a')]);
  });

  it('a shipment round-trips; update patches the named fields on the expected version only', async () => {
    await shipments.insert(shipment('s1'));
    expect(await shipments.get('s1')).toEqual(shipment('s1'));
    expect(await shipments.update('s1', 1, { state: 'delivered', pickupDeadline: T + 1000, pickupTokenId: 'tk' }, T + 5)).toBe(true);
    expect(await shipments.update('s1', 1, { state: 'cancelled' }, T + 6)).toBe(false);
    expect(await shipments.get('s1')).toEqual({ ...shipment('s1'), state: 'delivered', pickupDeadline: T + 1000, pickupTokenId: 'tk', version: 2, updatedAt: T + 5 });
    // A field given as undefined is cleared; fields not given keep their values.
    const clear: Partial<ShipmentRecord> = { compartmentId: 'M02' };
    Object.assign(clear, { pickupTokenId: undefined });
    expect(await shipments.update('s1', 2, clear, T + 7)).toBe(true);
    const s = await shipments.get('s1');
    expect(s).toMatchObject({ compartmentId: 'M02', state: 'delivered', pickupDeadline: T + 1000, version: 3 });
    expect(s).not.toHaveProperty('pickupTokenId');
    await shipments.insert(shipment('s0', { createdAt: T - 1 }));
    expect((await shipments.byOrder('o1')).map((r) => r.id)).toEqual(['s0', 's1']);
  });

  it('the pending code is handed out once, also to two callers at the same moment', async () => {
    await shipments.insert(shipment('s1'));
    await shipments.setPendingCode('s1', 'sealed-code');
    const got = await Promise.all([shipments.takePendingCode('s1'), shipments.takePendingCode('s1')]);
    expect(got.filter((c) => c !== undefined)).toEqual(['sealed-code']);
    expect(await shipments.takePendingCode('s1')).toBeUndefined();
  });

  it('deliveredPastDeadline: delivered parcels past their deadline, soonest first, bounded', async () => {
    await shipments.insert(shipment('late'));
    await shipments.insert(shipment('later'));
    await shipments.insert(shipment('early'));
    await shipments.insert(shipment('not-due'));
    await shipments.insert(shipment('collected'));
    await shipments.update('late', 1, { state: 'delivered', pickupDeadline: T - 10 }, T);
    await shipments.update('later', 1, { state: 'delivered', pickupDeadline: T }, T);
    await shipments.update('early', 1, { state: 'delivered', pickupDeadline: T - 100 }, T);
    await shipments.update('not-due', 1, { state: 'delivered', pickupDeadline: T + 1 }, T);
    await shipments.update('collected', 1, { state: 'collected', pickupDeadline: T - 1000 }, T);
    expect((await shipments.deliveredPastDeadline(T, 10)).map((s) => s.id)).toEqual(['early', 'late', 'later']);
    expect((await shipments.deliveredPastDeadline(T, 2)).map((s) => s.id)).toEqual(['early', 'late']);
  });

  it("listByCustomer: a customer's orders newest first, keyed by customer id or lowercased email, never another's", async () => {
    await orders.insert(order('o2', { customer: { name: 'Ada', email: 'ADA@example.org' }, createdAt: T + 10 }), [line('o2', 'a')]);
    await orders.insert(order('o3', { customer: { name: 'Ada', email: 'ada@example.org', customerId: 'cust-7' }, createdAt: T + 20 }), [line('o3', 'a')]);
    await orders.insert(order('o4', { customer: { name: 'Bob', email: 'bob@example.org' }, createdAt: T + 30 }), [line('o4', 'a')]);
    await orders.insert(order('o5', { customer: { name: 'Cy', phone: '+49 30 1234567' }, createdAt: T + 40 }), [line('o5', 'a')]);
    const ids = async (q: Partial<CustomerOrderQuery> = {}): Promise<string[]> => (await orders.listByCustomer({ customerKey: 'ada@example.org', limit: 10, ...q })).map((o) => o.id);
    expect(await ids()).toEqual(['o2', 'o1']);
    expect(await orders.listByCustomer({ customerKey: 'cust-7', limit: 10 })).toEqual([order('o3', { customer: { name: 'Ada', email: 'ada@example.org', customerId: 'cust-7' }, createdAt: T + 20, updatedAt: T + 20 })]);
    expect(await ids({ customerKey: 'nobody@example.org' })).toEqual([]);
  });

  it('listByCustomer filters by state, by [from, to) and by a shipment tracking number', async () => {
    await orders.insert(order('o2', { createdAt: T + 10 }), [line('o2', 'a')]);
    await orders.insert(order('o3', { createdAt: T + 20 }), [line('o3', 'a')]);
    await orders.updateState('o2', 'cancelled', 1, T + 11);
    await shipments.insert(shipment('s3', { orderId: 'o3', trackingNumber: '9400110200881234567890' }));
    await shipments.insert(shipment('s1', { orderId: 'o1', trackingNumber: 'OTHER-1' }));
    const ids = async (q: Partial<CustomerOrderQuery>): Promise<string[]> => (await orders.listByCustomer({ customerKey: 'ada@example.org', limit: 10, ...q })).map((o) => o.id);
    expect(await ids({ state: 'cancelled' })).toEqual(['o2']);
    expect(await ids({ state: 'placed' })).toEqual(['o3', 'o1']);
    expect(await ids({ from: T + 10 })).toEqual(['o3', 'o2']);
    expect(await ids({ to: T + 20 })).toEqual(['o2', 'o1']);
    expect(await ids({ from: T + 10, to: T + 20 })).toEqual(['o2']);
    expect(await ids({ trackingNumber: '9400110200881234567890' })).toEqual(['o3']);
    expect(await ids({ trackingNumber: 'NOPE' })).toEqual([]);
  });

  it('listByCustomer pages by keyset: no order twice or missed, also among equal creation times', async () => {
    for (let i = 2; i <= 7; i++) await orders.insert(order(`o${String(i)}`, { createdAt: T + (i <= 4 ? 5 : i) }), [line(`o${String(i)}`, 'a')]);
    const all = (await orders.listByCustomer({ customerKey: 'ada@example.org', limit: 100 })).map((o) => o.id);
    expect(all).toEqual(['o7', 'o6', 'o5', 'o4', 'o3', 'o2', 'o1']);
    const seen: string[] = [];
    let after: CustomerOrderQuery['after'];
    for (;;) {
      const page = await orders.listByCustomer({ customerKey: 'ada@example.org', limit: 2, after });
      seen.push(...page.map((o) => o.id));
      const last = page[page.length - 1];
      if (page.length < 2 || last === undefined) break;
      after = { createdAt: last.createdAt, id: last.id };
    }
    expect(seen).toEqual(all);
  });

  it('byOrders reads the shipments of several orders at once', async () => {
    await orders.insert(order('o2'), [line('o2', 'a')]);
    await shipments.insert(shipment('s1'));
    await shipments.insert(shipment('s2', { orderId: 'o2' }));
    expect((await shipments.byOrders(['o1', 'o2'])).map((s) => s.id)).toEqual(['s1', 's2']);
    expect(await shipments.byOrders([])).toEqual([]);
  });

  it.skipIf(engine !== 'postgres')('two sweeping transactions take disjoint parcels (SKIP LOCKED)', async () => {
    for (let i = 0; i < 6; i++) {
      await shipments.insert(shipment(`d${String(i)}`));
      await shipments.update(`d${String(i)}`, 1, { state: 'delivered', pickupDeadline: T - 100 + i }, T);
    }
    // Neither commits before both have read: the second reads while the first's rows are locked.
    let read = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    const sweep = (): Promise<string[]> =>
      x.transaction(async () => {
        const due = await shipments.deliveredPastDeadline(T, 3);
        if (++read === 2) bothRead();
        await barrier;
        return due.map((s) => s.id);
      });
    const [a, b] = await Promise.all([sweep(), sweep()]);
    expect(a).toHaveLength(3);
    expect(b).toHaveLength(3);
    expect(new Set([...a, ...b]).size).toBe(6);
  });
});
