import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH, auditRecordHash, type AuditRecordWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { signal } from '../testing/signal.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { dropSchema, freshSchemaName, pgSuitesRun, testEngines, waitForLockWait } from '../testing/pg-test-db.js';

// A compartment the locker took out of service and later put back (an operator's command
// or the technician on site), as the locker uploads it: the backend's bookkeeping follows
// to what its own records say is promised there, on every engine. Before, a repaired
// compartment stayed out_of_service at the backend for good and was never sold again.

const E = 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1';
const engines = await testEngines('compartment back in service');

interface Ev {
  type: string;
  data: Record<string, unknown>;
  lane?: 'priority' | 'normal';
}

/** One locker's hash chain: records made in seq order, sent in any grouping (the agent publishes the priority lane first). */
function lockerChain(f: () => BackendFixture, lockerId: string) {
  const sent: AuditRecordWire[] = [];
  let prev = GENESIS_PREV_HASH;
  const make = (...events: Ev[]): AuditRecordWire[] => {
    const at = f().clock.now();
    return events.map((e) => {
      const seq = sent.length + 1;
      const dataJson = JSON.stringify(e.data);
      const hash = auditRecordHash(prev, seq, at + seq, e.type, dataJson);
      const rec: AuditRecordWire = { seq, at: at + seq, type: e.type, lane: e.lane ?? 'priority', dataJson, prevHash: prev, hash };
      prev = hash;
      sent.push(rec);
      return rec;
    });
  };
  const send = (wire: AuditRecordWire[]) => f().services.ingest.ingest(lockerId, E, wire);
  return { make, send, sent, upload: (...events: Ev[]) => send(make(...events)) };
}

const out = (compartmentId: string): Ev => ({ type: 'compartment.out-of-service', data: { compartmentId, reason: 'door-jammed', failures: 3 } });
const back = (compartmentId: string, to: 'free' | 'occupied', parcelId?: string): Ev => ({
  type: 'compartment.in-service',
  data: { compartmentId, inService: true, from: 'out-of-service', to, failuresCleared: 3, by: 'backend', ...(parcelId === undefined ? {} : { parcelId }) },
});

describe.each(engines)('a compartment back in service on %s', (engine) => {
  let f: BackendFixture;
  let locker: ReturnType<typeof lockerChain>;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-s', 52.52, 13.405, { M: 2 }));
    locker = lockerChain(() => f, 'lk-s');
  });
  afterEach(() => f.close());

  const upload = (...events: Ev[]) => locker.upload(...events);
  const stateOf = async (compartmentId: string) => (await f.services.lockers.get('lk-s')).compartments.find((c) => c.id === compartmentId)?.state;
  const alerts = async (kind: string) => (await f.store.alerts.list('lk-s')).filter((a) => a.kind === kind);

  it('an empty compartment is free again and can be reserved', async () => {
    await upload(out('M1'), out('M2'));
    expect(await stateOf('M1')).toBe('out_of_service');
    await expect(f.services.reservations.reserve('hold-none', { orderRef: 'c-0', lockerId: 'lk-s', size: 'M' })).rejects.toThrow();
    await upload(back('M1', 'free'));
    expect(await stateOf('M1')).toBe('free');
    expect(await stateOf('M2')).toBe('out_of_service');
    const hold = await f.services.reservations.reserve('hold-after', { orderRef: 'c-1', lockerId: 'lk-s', size: 'M' });
    expect(hold.body.compartmentId).toBe('M1');
    const log = (await f.store.stateLog.list('compartment', 'lk-s/M1')).map((e) => `${e.from ?? ''}>${e.to}:${e.event}`);
    expect(log).toContain('out_of_service>free:in_service');
    expect(await alerts('fault.compartment-state-mismatch')).toEqual([]);
  });

  it('a parcel inside keeps its compartment occupied, and its collection frees it', async () => {
    const o = await paidOrder(f, 'ord-in', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-IN');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await upload({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' }, out(cmp));
    expect(await stateOf(cmp)).toBe('out_of_service');
    await upload(back(cmp, 'occupied', s.id));
    expect(await stateOf(cmp)).toBe('occupied');
    await upload({ type: 'pickup.collected', data: { tokenId, compartmentId: cmp, via: 'code', parcelId: s.id, door: 'opened' }, lane: 'normal' });
    expect((await f.services.shipments.get(s.id)).state).toBe('collected');
    expect(await stateOf(cmp)).toBe('free');
  });

  it('a parcel collected while the door was out of service leaves it free, not held by the old reservation', async () => {
    const o = await paidOrder(f, 'ord-gone', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-GONE');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await upload(
      { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' },
      out(cmp),
      { type: 'pickup.collected', data: { tokenId, compartmentId: cmp, via: 'code', parcelId: s.id, door: 'opened' }, lane: 'normal' },
    );
    expect(await stateOf(cmp)).toBe('out_of_service');
    await upload(back(cmp, 'free'));
    expect(await stateOf(cmp)).toBe('free');
    // Claimable: the other M is taken first, then this one.
    const a = await f.services.reservations.reserve('h-a', { orderRef: 'c-a', lockerId: 'lk-s', size: 'M' });
    const b = await f.services.reservations.reserve('h-b', { orderRef: 'c-b', lockerId: 'lk-s', size: 'M' });
    expect([a.body.compartmentId, b.body.compartmentId].sort()).toEqual(['M1', 'M2']);
  });

  it('stays out of service, with an alert, when the locker holds a parcel the backend does not place there', async () => {
    await upload(out('M2'));
    await upload(back('M2', 'occupied', 'someone-elses'));
    expect(await stateOf('M2')).toBe('out_of_service');
    const raised = await alerts('fault.compartment-state-mismatch');
    expect(raised).toHaveLength(1);
    expect(raised[0]?.details).toMatchObject({ compartmentId: 'M2', backend: 'free', locker: 'occupied', lockerParcelId: 'someone-elses', inService: false });
  });

  it("keeps the backend's parcel on record, with an alert, when the locker says the compartment is empty", async () => {
    const o = await paidOrder(f, 'ord-lost', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-LOST');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await upload({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' }, out(cmp), back(cmp, 'free'));
    expect(await stateOf(cmp)).toBe('occupied');
    expect((await alerts('fault.compartment-state-mismatch'))[0]?.details).toMatchObject({ compartmentId: cmp, backend: 'occupied', locker: 'free', shipmentId: s.id, inService: true });
  });

  it('a parcel still on its way keeps its compartment reserved when the re-slot found no other', async () => {
    const o = await paidOrder(f, 'ord-way', [{ lineId: 'l1', size: 'M' }]);
    const other = await f.services.reservations.reserve('h-other', { orderRef: 'c-o', lockerId: 'lk-s', size: 'M' });
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-WAY');
    const cmp = String(s.compartmentId);
    expect(cmp).not.toBe(other.body.compartmentId);
    await upload(out(cmp));
    expect(await alerts('fault.reslot-failed')).toHaveLength(1);
    await upload(back(cmp, 'free'));
    expect(await stateOf(cmp)).toBe('reserved');
    expect((await f.store.shipments.get(s.id))?.compartmentId).toBe(cmp);
  });

  it('a hold or order reservation the fault moved to another door leaves the repaired one free', async () => {
    await f.services.lockers.register(lockerInput('lk-3', 52.5, 13.4, { M: 3 }));
    const three = lockerChain(() => f, 'lk-3');
    const stateIn3 = async (id: string) => (await f.services.lockers.get('lk-3')).compartments.find((c) => c.id === id)?.state;
    const hold = await f.services.reservations.reserve('h-moved', { orderRef: 'c-m', lockerId: 'lk-3', size: 'M' });
    const ordered = await f.services.reservations.reserve('h-ordered', { orderRef: 'c-o', lockerId: 'lk-3', size: 'M' });
    const { body: order } = await f.services.orders.place('o-moved', {
      orderRef: 'c-o',
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 's', quantity: 1, unitPriceCents: 1000, size: 'M' }],
      reservationIds: [ordered.body.id],
    });
    expect([hold.body.compartmentId, ordered.body.compartmentId]).toEqual(['M1', 'M2']);
    // M1 fails: its hold moves to M3. M1 is repaired; then M3 fails: it moves back to M1.
    await three.upload(out('M1'));
    expect((await f.store.reservations.get(hold.body.id))?.compartmentId).toBe('M3');
    await three.upload(back('M1', 'free'));
    expect(await stateIn3('M1')).toBe('free');
    await three.upload(out('M2'));
    // The order's reservation found only M1 free.
    expect((await f.store.reservations.get(ordered.body.id))?.compartmentId).toBe('M1');
    await three.upload(back('M2', 'free'));
    expect(await stateIn3('M2')).toBe('free');
    // Both end: every door is free again, none held for a reservation that moved on.
    await f.services.reservations.release(hold.body.id, 'checkout', 'abandoned');
    await f.services.orders.cancel(order.id, { reason: 'changed mind' }, 'customer');
    expect((await f.services.lockers.get('lk-3')).compartments.map((c) => c.state)).toEqual(['free', 'free', 'free']);
  });

  it('a hold restored with its door keeps its expiry: once lapsed it reads free', async () => {
    await f.services.lockers.register(lockerInput('lk-1', 52.5, 13.4, { M: 1 }));
    const one = lockerChain(() => f, 'lk-1');
    await f.services.reservations.reserve('h-exp', { orderRef: 'c-e', lockerId: 'lk-1', size: 'M' });
    await one.upload(out('M1'));
    expect(await alerts('fault.reslot-failed')).toEqual([]);
    await one.upload(back('M1', 'free'));
    expect((await f.services.lockers.get('lk-1')).compartments[0]?.state).toBe('held');
    f.clock.advance(24 * 3_600_000);
    expect((await f.services.lockers.get('lk-1')).compartments[0]?.state).toBe('free');
    expect((await f.services.reservations.reserve('h-next', { orderRef: 'c-n', lockerId: 'lk-1', size: 'M' })).body.compartmentId).toBe('M1');
  });

  it('a door awaiting a return drop-off, which the locker already counts: reserved for it, free once retrieved', async () => {
    const o = await paidOrder(f, 'ord-ret', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-RET');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await upload(
      { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' },
      { type: 'pickup.collected', data: { tokenId, compartmentId: cmp, via: 'code', parcelId: s.id, door: 'opened' }, lane: 'normal' },
    );
    await f.services.parcels.requestReturn(s.id, 'lk-s', { actor: 'customer' });
    const r = await f.store.shipments.get(s.id);
    const dropAt = String(r?.compartmentId);
    expect(await stateOf(dropAt)).toBe('reserved');
    await upload(out(dropAt));
    // What the locker sends: its drop-off entry is live, so it counts the parcel inside.
    await upload(back(dropAt, 'occupied', s.id));
    expect(await stateOf(dropAt)).toBe('reserved');
    expect(await alerts('fault.compartment-state-mismatch')).toEqual([]);
    await upload(
      { type: 'return.dropped-off', data: { tokenId: r?.returnTokenId, compartmentId: dropAt, via: 'code', parcelId: s.id }, lane: 'normal' },
      { type: 'return.retrieved', data: { compartmentId: dropAt, courierTokenId: 'tok_c', parcelId: s.id, entries: [] }, lane: 'normal' },
    );
    expect((await f.store.shipments.get(s.id))?.state).toBe('returned');
    expect(await stateOf(dropAt)).toBe('free');
  });

  it('a deposit overtaken by the priority lane: the door the parcel is in comes back for it, and is free after collection', async () => {
    const o = await paidOrder(f, 'ord-lane', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-LANE');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    const other = cmp === 'M1' ? 'M2' : 'M1';
    const [deposit, failed, repaired] = locker.make(
      { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' },
      out(cmp),
      back(cmp, 'occupied', s.id),
    );
    // The agent publishes the priority lane first: the backend hears of the fault before the deposit.
    await locker.send([failed!]);
    expect((await f.store.shipments.get(s.id))?.compartmentId).toBe(other);
    await locker.send([repaired!]);
    // Back to the door the locker says it is in, with its reservation; the other is free.
    expect((await f.store.shipments.get(s.id))?.compartmentId).toBe(cmp);
    expect(await stateOf(cmp)).toBe('reserved');
    expect(await stateOf(other)).toBe('free');
    await locker.send([deposit!]);
    expect((await f.store.shipments.get(s.id))?.compartmentId).toBe(cmp);
    expect(await stateOf(cmp)).toBe('occupied');
    expect(await stateOf(other)).toBe('free');
    await upload({ type: 'pickup.collected', data: { tokenId, compartmentId: cmp, via: 'code', parcelId: s.id, door: 'opened' }, lane: 'normal' });
    expect(await stateOf(cmp)).toBe('free');
    expect(await alerts('fault.compartment-state-mismatch')).toEqual([]);
  });

  it('a parcel a courier re-slotted into a door held for someone else, which then jammed: occupied again', async () => {
    const hold = await f.services.reservations.reserve('h-else', { orderRef: 'c-e', lockerId: 'lk-s', size: 'M' });
    expect(hold.body.compartmentId).toBe('M1');
    const o = await paidOrder(f, 'ord-reslot', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-RESLOT');
    expect(s.compartmentId).toBe('M2');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const [deposit, failed, repaired] = locker.make(
      { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M2' }, lane: 'normal' },
      out('M1'),
      back('M1', 'occupied', s.id),
    );
    await locker.send([failed!]);
    await locker.send([deposit!]);
    expect((await f.store.shipments.get(s.id))?.compartmentId).toBe('M1');
    await locker.send([repaired!]);
    expect(await stateOf('M1')).toBe('occupied');
    expect(await alerts('fault.compartment-state-mismatch')).toEqual([]);
    await upload({ type: 'pickup.collected', data: { tokenId, compartmentId: 'M1', via: 'code', parcelId: s.id, door: 'opened' }, lane: 'normal' });
    expect(await stateOf('M1')).toBe('free');
  });

  it('a deposit in flight whose shipment is cancelled before it lands leaves no door reserved for nobody', async () => {
    const o = await paidOrder(f, 'ord-gone-early', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-GONE-EARLY');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    const [deposit, failed, repaired] = locker.make(
      { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' },
      out(cmp),
      back(cmp, 'occupied', s.id),
    );
    await locker.send([failed!, repaired!]);
    expect(await stateOf(cmp)).toBe('reserved');
    await f.services.orders.cancel(o.id, { reason: 'changed mind' }, 'merchant');
    await locker.send([deposit!]);
    expect(await alerts('fault.parcel-not-live')).toHaveLength(1);
    // The cancelled parcel is inside its door: occupied (not sold again) until a courier takes it; no door is reserved.
    const doors = (await f.services.lockers.get('lk-s')).compartments;
    expect(doors.filter((c) => c.state !== 'free').map((c) => [c.id, c.state])).toEqual([[cmp, 'occupied']]);
  });

  it('a door holding a cancelled parcel that goes out of service and back stays occupied, and a courier can still take the parcel out', async () => {
    const o = await paidOrder(f, 'ord-stray-out', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-STRAY-OUT');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await f.services.orders.cancel(o.id, { reason: 'changed mind' }, 'merchant');
    await upload({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' });
    expect(await stateOf(cmp)).toBe('occupied');
    await upload(out(cmp));
    await upload(back(cmp, 'occupied', s.id));
    expect(await stateOf(cmp)).toBe('occupied');
    expect(await alerts('fault.compartment-state-mismatch')).toEqual([]);
    const retrieval = await f.services.parcels.retrievalToken(s.id, 'courier-1');
    expect(retrieval.compartmentId).toBe(cmp);
    expect(await f.services.parcels.retrieved(s.id, 'lk-s', { actor: 'locker:lk-s' })).toBe('applied');
    expect(await stateOf(cmp)).toBe('free');
  });

  it('a hold that lapsed while its door was out: the next hold gets the door', async () => {
    await f.services.lockers.register(lockerInput('lk-1', 52.5, 13.4, { M: 1 }));
    const one = lockerChain(() => f, 'lk-1');
    await f.services.reservations.reserve('h-lapsed', { orderRef: 'c-l', lockerId: 'lk-1', size: 'M' });
    await one.upload(out('M1'));
    f.clock.advance(24 * 3_600_000);
    await one.upload(back('M1', 'free'));
    expect((await f.services.reservations.reserve('h-then', { orderRef: 'c-t', lockerId: 'lk-1', size: 'M' })).body.compartmentId).toBe('M1');
  });

  it("leaves the order of the parcel it looks at as it was (its lock bumps no version)", async () => {
    const o = await paidOrder(f, 'ord-v', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-V');
    await upload(out(String(s.compartmentId)));
    const before = await f.store.orders.get(o.id);
    f.clock.advance(3_600_000);
    await upload(back(String(s.compartmentId), 'occupied', 'shp_somebody_else'));
    expect(await f.store.orders.get(o.id)).toEqual(before);
  });

  it('a deposit in flight into the door the fault took the parcel from: the parcel moves back, one door per reservation', async () => {
    await f.services.lockers.register(lockerInput('lk-3', 52.5, 13.4, { M: 3 }));
    const three = lockerChain(() => f, 'lk-3');
    const doors = async () => (await f.services.lockers.get('lk-3')).compartments.map((c) => `${c.id}:${c.state}`);
    const o = await paidOrder(f, 'ord-back-in', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-3', 'M', 'TRK-BACK-IN');
    expect(s.compartmentId).toBe('M1');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    await three.upload(out('M1'));
    // The backend moved the parcel to M2; the courier had already put it into M1.
    expect((await f.store.shipments.get(s.id))?.compartmentId).toBe('M2');
    const [deposit] = three.make({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1' }, lane: 'normal' });
    const [repaired] = three.make(back('M1', 'occupied', s.id));
    await three.send([repaired!]);
    const moved = await f.store.shipments.get(s.id);
    expect(moved?.compartmentId).toBe('M1');
    expect((await f.store.reservations.get(String(moved?.reservationId)))?.compartmentId).toBe('M1');
    expect(await doors()).toEqual(['M1:reserved', 'M2:free', 'M3:free']);
    // A fault on the now empty M2 moves nothing, and a new hold never gets M1.
    const [m2failed] = three.make(out('M2'));
    await three.send([m2failed!]);
    const hold = await f.services.reservations.reserve('h-next', { orderRef: 'c-n', lockerId: 'lk-3', size: 'M' });
    expect(hold.body.compartmentId).toBe('M3');
    await three.send([deposit!]);
    expect((await f.store.shipments.get(s.id))?.state).toBe('delivered');
    expect(await doors()).toEqual(['M1:occupied', 'M2:out_of_service', 'M3:held']);
  });

  it('a replayed upload changes nothing more', async () => {
    await upload(out('M1'), back('M1', 'free'));
    const hold = await f.services.reservations.reserve('h-r', { orderRef: 'c-r', lockerId: 'lk-s', size: 'M' });
    expect(hold.body.compartmentId).toBe('M1');
    // The agent retries an upload it saw no ack for: the same records again.
    const result = await locker.send(locker.sent);
    expect(result).toMatchObject({ inserted: 0, duplicates: 2 });
    expect(await stateOf('M1')).toBe('held');
    expect((await f.store.stateLog.list('compartment', 'lk-s/M1')).filter((e) => e.event === 'in_service')).toHaveLength(1);
  });
});

describe.runIf(await pgSuitesRun('compartment back in service, two instances'))('a compartment back in service with two instances on PostgreSQL', () => {
  let a: BackendFixture;
  let b: BackendFixture;
  let schema: string;
  beforeEach(async () => {
    schema = freshSchemaName();
    a = await makeBackend({ engine: 'postgres', pgSchema: schema });
    b = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: a.dir });
  });
  afterEach(async () => {
    await a.close();
    await b.close();
    await dropSchema(schema);
  });

  it('an in-service racing the expiry of the parcel inside on the other instance is applied, not lost', async () => {
    await a.services.lockers.register(lockerInput('lk-d', 52.52, 13.405, { M: 2 }));
    const locker = lockerChain(() => a, 'lk-d');
    const o = await paidOrder(a, 'ord-dl', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(a, o.id, ['l1'], 'lk-d', 'M', 'TRK-DL');
    const tokenId = (await a.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await locker.upload({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp }, lane: 'normal' }, out(cmp));
    // Instance B expires the parcel and is held with its order locked, about to revoke the
    // code in the locker's code set; instance A's upload holds that code set and wants the
    // order: a deadlock PostgreSQL breaks by failing one of them.
    const atRevoke = signal();
    const gate = signal();
    const codeSets = b.services.codeSets;
    const revoke = codeSets.revoke.bind(codeSets);
    codeSets.revoke = async (...args: Parameters<typeof revoke>) => {
      atRevoke.fire();
      await gate.wait;
      return revoke(...args);
    };
    const expiring = b.services.parcels.expire(s.id, { actor: 'sweeper', reason: 'pickup window lapsed' });
    await atRevoke.wait;
    const repairing = locker.upload(back(cmp, 'occupied', s.id));
    await waitForLockWait(schema, '%orders%');
    gate.fire();
    const [expired, repaired] = await Promise.allSettled([expiring, repairing]);
    expect(expired.status).toBe('fulfilled');
    expect(repaired.status).toBe('fulfilled');
    // Whichever lost ran again: the door is back (the expired parcel is still inside).
    expect((await a.store.lockers.compartment('lk-d', cmp))?.state).toBe('occupied');
    expect((await a.store.shipments.get(s.id))?.state).toBe('expired');
  });

  it('a re-slot racing a carrier step on the other instance keeps the parcel on its new door', async () => {
    await a.services.lockers.register(lockerInput('lk-q', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(a, 'ord-q', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(a, o.id, ['l1'], 'lk-q', 'M', 'TRKQ0001');
    expect(s.compartmentId).toBe('M1');
    // Instance B has written the carrier's 'ship' step and waits before committing.
    const shipments = b.store.shipments;
    const update = shipments.update.bind(shipments);
    const atUpdate = signal();
    const gate = signal();
    shipments.update = async (...args: Parameters<typeof update>) => {
      const done = await update(...args);
      atUpdate.fire();
      await gate.wait;
      return done;
    };
    const stepping = b.services.shipments.carrierEvent(s.id, 'ship', { actor: 'carrier', reason: 'api' });
    await atUpdate.wait;
    const failing = lockerChain(() => a, 'lk-q').upload(out('M1'));
    await waitForLockWait(schema, '%orders%');
    gate.fire();
    const [stepped, failed] = await Promise.allSettled([stepping, failing]);
    expect([stepped.status, failed.status]).toEqual(['fulfilled', 'fulfilled']);
    const after = await a.store.shipments.get(s.id);
    expect(after).toMatchObject({ state: 'shipped', compartmentId: 'M2' });
    expect((await a.store.lockers.compartment('lk-q', 'M2'))?.reservationId).toBe(after?.reservationId);
  });

  it('a hold released on the other instance while the record is applied leaves the door free', async () => {
    await a.services.lockers.register(lockerInput('lk-r', 52.52, 13.405, { M: 1 }));
    const locker = lockerChain(() => a, 'lk-r');
    const hold = await a.services.reservations.reserve('h-race', { orderRef: 'c-r', lockerId: 'lk-r', size: 'M' });
    await locker.upload(out('M1'));
    // Instance B releases the hold (and commits) right after A first read it.
    const reservations = a.store.reservations;
    const get = reservations.get.bind(reservations);
    let once = true;
    reservations.get = async (id: string) => {
      const r = await get(id);
      if (once) {
        once = false;
        await b.services.reservations.release(hold.body.id, 'checkout', 'abandoned');
      }
      return r;
    };
    await locker.upload(back('M1', 'free'));
    reservations.get = get;
    expect((await a.store.lockers.compartment('lk-r', 'M1'))?.state).toBe('free');
    expect((await a.services.reservations.reserve('h-after', { orderRef: 'c-a', lockerId: 'lk-r', size: 'M' })).body.compartmentId).toBe('M1');
  });
});
