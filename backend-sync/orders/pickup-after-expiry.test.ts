import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditChain as chain } from '../testing/audit-chain.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';

const E = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';

describe('a pickup the locker uploads after the backend expired the parcel', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  async function deliveredParcel(ref: string, tn: string): Promise<{ orderId: string; shipmentId: string; tokenId: string; depositAt: number; deadline: number }> {
    const o = await paidOrder(f, ref, [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', tn);
    const tokenId = (await f.store.shipments.get(s.id))!.pickupTokenId!;
    const depositAt = f.clock.now();
    await f.services.ingest.ingest('lk-a', E, chain([{ type: 'courier.deposited', data: { tokenId, parcelId: s.id, compartmentId: 'M1', assignedId: 'M1' }, at: depositAt }]));
    expect((await f.services.shipments.get(s.id)).state).toBe('delivered');
    return { orderId: o.id, shipmentId: s.id, tokenId, depositAt, deadline: (await f.services.shipments.get(s.id)).pickupDeadline as number };
  }

  // The locker was offline: the backend's sweeper expired the parcel (code revoked, customer
  // told, timeline returned_to_sender) before the locker could upload the pickup.
  for (const [when, pickedAfterDeadlineMs] of [
    ['one minute before the deadline', -60_000],
    ['after the deadline, before the revoked code reached the locker', 2 * 60_000],
  ] as const) {
    it(`is the pickup (recorded ${when}): collected, the compartment free, no courier sent, nothing refunded`, async () => {
      const p = await deliveredParcel(`ord-late-pickup${String(pickedAfterDeadlineMs)}`, `LATEPK-${String(pickedAfterDeadlineMs > 0 ? 2 : 1)}`);
      const tn = (await f.services.shipments.get(p.shipmentId)).trackingNumber;
      f.clock.advance(p.deadline - f.clock.now() + 5 * 60_000);
      expect(await f.services.parcels.expireDue()).toBe(1);
      expect((await f.services.shipments.get(p.shipmentId)).state).toBe('expired');
      f.clock.advance(5 * 60_000);
      const recs = chain([
        { type: 'courier.deposited', data: { tokenId: p.tokenId, parcelId: p.shipmentId, compartmentId: 'M1', assignedId: 'M1' }, at: p.depositAt },
        { type: 'pickup.collected', data: { tokenId: p.tokenId, compartmentId: 'M1', via: 'code', parcelId: p.shipmentId, door: 'opened' }, at: p.deadline + pickedAfterDeadlineMs },
      ]);
      await f.services.ingest.ingest('lk-a', E, recs);
      await f.services.tracking.applier.drain();
      expect((await f.services.shipments.get(p.shipmentId)).state).toBe('collected');
      expect((await f.services.orders.get(p.orderId)).state).toBe('collected');
      expect((await f.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
      // No courier is sent to an empty compartment, and the customer who has the goods is not refunded.
      await expect(f.services.parcels.retrievalToken(p.shipmentId, 'courier-1')).rejects.toThrow(/nothing to retrieve/);
      expect(await f.store.refunds.byOrder(p.orderId)).toEqual([]);
      // The tracking page agrees with the doors.
      expect((await f.store.tracking.projection(tn))?.projection.status).toBe('collected');
    });
  }
});
