import { afterEach, describe, expect, it } from 'vitest';
import { auditChain as chain } from '../testing/audit-chain.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';

// A courier deposits a parcel whose shipment was cancelled before the locker heard: the
// door is physically full. The backend used to keep it free (the cancellation had released
// it), so the next customer's hold was given a door with someone else's parcel in it.

const E = 'e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1';

const engines = await testEngines('stray deposit of a cancelled shipment');

describe.each(engines)('a parcel deposited after its shipment was cancelled, on %s', (engine) => {
  let f: BackendFixture;
  afterEach(() => f.close());

  async function setUp(compartments: number): Promise<void> {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: compartments }));
  }

  /** A cancelled shipment whose parcel the courier still deposited into M1, where a new hold now sits. */
  async function strayIntoHeldDoor(): Promise<{ shipmentId: string; tokenId: string; holdId: string }> {
    const o = await paidOrder(f, 'ord-stray', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'STRAY-1');
    const tokenId = (await f.store.shipments.get(s.id))!.pickupTokenId!;
    expect(s.compartmentId).toBe('M1');
    await f.services.orders.cancel(o.id, { reason: 'customer changed mind' }, 'merchant');
    const { body: hold } = await f.services.reservations.reserve('key-stray-hold', { orderRef: 'checkout-2', lockerId: 'lk-a', size: 'M' });
    expect(hold.compartmentId).toBe('M1');
    // The locker had not heard of the revocation yet: a normal deposit record.
    await f.services.ingest.ingest('lk-a', E, chain([{ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1' }, at: f.clock.now() }]));
    return { shipmentId: s.id, tokenId, holdId: hold.id };
  }

  const door = async (id: string): Promise<string | undefined> => (await f.services.lockers.get('lk-a')).compartments.find((c) => c.id === id)?.state;

  it('marks the door occupied, moves the hold on it to a free door, and lets a courier take the parcel out', async () => {
    await setUp(2);
    const { shipmentId, holdId } = await strayIntoHeldDoor();
    expect(await door('M1')).toBe('occupied');
    const hold = await f.services.reservations.get(holdId);
    expect({ status: hold.status, compartmentId: hold.compartmentId }).toEqual({ status: 'held', compartmentId: 'M2' });
    expect(await door('M2')).toBe('held');
    // The parcel is still the cancelled one's, and a courier may be sent for it.
    expect((await f.services.shipments.get(shipmentId)).state).toBe('cancelled');
    const t = await f.services.parcels.retrievalToken(shipmentId, 'courier-1');
    expect({ lockerId: t.lockerId, compartmentId: t.compartmentId }).toEqual({ lockerId: 'lk-a', compartmentId: 'M1' });
    expect((await f.store.alerts.list('lk-a')).map((a) => a.kind)).toContain('fault.parcel-not-live');
    // The courier takes it out: the door is free again and the token no longer issued.
    expect(await f.services.parcels.retrieved(shipmentId, 'lk-a', { actor: 'locker:lk-a' })).toBe('applied');
    expect(await door('M1')).toBe('free');
    await expect(f.services.parcels.retrievalToken(shipmentId, 'courier-1')).rejects.toThrow(/nothing to retrieve/);
    expect(await f.services.parcels.retrieved(shipmentId, 'lk-a', { actor: 'locker:lk-a' })).toBe('ignored');
  });

  it('releases the hold with a logged reason when no other door of its size is free, and never hands the full door out', async () => {
    await setUp(1);
    const { holdId } = await strayIntoHeldDoor();
    expect(await door('M1')).toBe('occupied');
    expect((await f.services.reservations.get(holdId)).status).toBe('released');
    const log = await f.store.stateLog.list('reservation', holdId);
    expect(log.at(-1)).toMatchObject({ to: 'released', actor: 'compartment-faults' });
    expect(log.at(-1)?.reason).toMatch(/no free M compartment/);
    await expect(f.services.reservations.reserve('key-stray-next', { orderRef: 'checkout-3', lockerId: 'lk-a', size: 'M' })).rejects.toThrow();
  });

  it("moves another order's not yet deposited parcel to a free door of its size", async () => {
    await setUp(2);
    const o = await paidOrder(f, 'ord-stray-c', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'STRAY-3');
    const tokenId = (await f.store.shipments.get(s.id))!.pickupTokenId!;
    await f.services.orders.cancel(o.id, { reason: 'out of stock' }, 'merchant');
    const other = await paidOrder(f, 'ord-next', [{ lineId: 'l1', size: 'M' }]);
    const next = await ship(f, other.id, ['l1'], 'lk-a', 'M', 'NEXT-1');
    expect(next.compartmentId).toBe('M1');
    await f.services.ingest.ingest('lk-a', E, chain([{ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1' }, at: f.clock.now() }]));
    expect(await door('M1')).toBe('occupied');
    expect((await f.services.shipments.get(next.id)).compartmentId).toBe('M2');
    expect(await door('M2')).toBe('reserved');
  });

  it('marks the door occupied when the locker already knew the code was revoked (deposited-not-live)', async () => {
    await setUp(2);
    const o = await paidOrder(f, 'ord-stray-nl', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'STRAY-2');
    const tokenId = (await f.store.shipments.get(s.id))!.pickupTokenId!;
    await f.services.orders.cancel(o.id, { reason: 'out of stock' }, 'merchant');
    expect(await door('M1')).toBe('free');
    await f.services.ingest.ingest('lk-a', E, chain([{ type: 'courier.deposited-not-live', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1', entryState: 'revoked', returnNeeded: true }, at: f.clock.now() }]));
    expect(await door('M1')).toBe('occupied');
    const { body: next } = await f.services.reservations.reserve('key-stray-nl', { orderRef: 'checkout-4', lockerId: 'lk-a', size: 'M' });
    expect(next.compartmentId).toBe('M2');
  });
});
