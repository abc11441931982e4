import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH, auditRecordHash, type AuditRecordWire } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// A compartment the locker took out of service and later put back (an operator's command
// or the technician on site), as the locker uploads it: the backend's bookkeeping follows
// to what its own records say is promised there, on every engine. Before, a repaired
// compartment stayed out_of_service at the backend for good and was never sold again.

const E = 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1';
const engines = await testEngines('compartment back in service');

describe.each(engines)('a compartment back in service on %s', (engine) => {
  let f: BackendFixture;
  let records: Array<{ type: string; data: Record<string, unknown> }>;
  let sent: AuditRecordWire[];
  let prev = GENESIS_PREV_HASH;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-s', 52.52, 13.405, { M: 2 }));
    records = [];
    sent = [];
    prev = GENESIS_PREV_HASH;
  });
  afterEach(() => f.close());

  /** Appends to the locker's chain and uploads what is new, as the agent does. */
  const upload = async (...events: Array<{ type: string; data: Record<string, unknown> }>): Promise<void> => {
    const at = f.clock.now();
    const wire: AuditRecordWire[] = events.map((e) => {
      const seq = records.length + 1;
      records.push(e);
      const dataJson = JSON.stringify(e.data);
      const hash = auditRecordHash(prev, seq, at + seq, e.type, dataJson);
      const rec: AuditRecordWire = { seq, at: at + seq, type: e.type, lane: 'priority', dataJson, prevHash: prev, hash };
      prev = hash;
      return rec;
    });
    sent.push(...wire);
    await f.services.ingest.ingest('lk-s', E, wire);
  };
  const out = (compartmentId: string) => ({ type: 'compartment.out-of-service', data: { compartmentId, reason: 'door-jammed', failures: 3 } });
  const back = (compartmentId: string, to: 'free' | 'occupied', parcelId?: string) => ({
    type: 'compartment.in-service',
    data: { compartmentId, inService: true, from: 'out-of-service', to, failuresCleared: 3, by: 'backend', ...(parcelId === undefined ? {} : { parcelId }) },
  });
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
    await upload({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp } }, out(cmp));
    expect(await stateOf(cmp)).toBe('out_of_service');
    await upload(back(cmp, 'occupied', s.id));
    expect(await stateOf(cmp)).toBe('occupied');
    await upload({ type: 'pickup.collected', data: { tokenId, compartmentId: cmp, via: 'code', parcelId: s.id, door: 'opened' } });
    expect((await f.services.shipments.get(s.id)).state).toBe('collected');
    expect(await stateOf(cmp)).toBe('free');
  });

  it('a parcel collected while the door was out of service leaves it free, not held by the old reservation', async () => {
    const o = await paidOrder(f, 'ord-gone', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-GONE');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await upload(
      { type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp } },
      out(cmp),
      { type: 'pickup.collected', data: { tokenId, compartmentId: cmp, via: 'code', parcelId: s.id, door: 'opened' } },
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
    expect(raised[0]?.details).toMatchObject({ compartmentId: 'M2', backend: 'free', locker: 'occupied', inService: false });
  });

  it("keeps the backend's parcel on record, with an alert, when the locker says the compartment is empty", async () => {
    const o = await paidOrder(f, 'ord-lost', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-s', 'M', 'TRK-LOST');
    const tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId;
    const cmp = String(s.compartmentId);
    await upload({ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: cmp, assignedId: cmp } }, out(cmp), back(cmp, 'free'));
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

  it('a replayed upload changes nothing more', async () => {
    await upload(out('M1'), back('M1', 'free'));
    const hold = await f.services.reservations.reserve('h-r', { orderRef: 'c-r', lockerId: 'lk-s', size: 'M' });
    expect(hold.body.compartmentId).toBe('M1');
    // The agent retries an upload it saw no ack for: the same records again.
    const result = await f.services.ingest.ingest('lk-s', E, sent);
    expect(result).toMatchObject({ inserted: 0, duplicates: 2 });
    expect(await stateOf('M1')).toBe('held');
    expect((await f.store.stateLog.list('compartment', 'lk-s/M1')).filter((e) => e.event === 'in_service')).toHaveLength(1);
  });
});
