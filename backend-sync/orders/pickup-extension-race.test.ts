import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';

// The sweeper lists parcels past their deadline, then expires them one transaction at a time.
// A customer's pickup extension that commits in between (another request, another instance)
// must win: the customer was told 200 and a new deadline.
describe('a pickup extension racing the expiry sweep', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
  });
  afterEach(() => f.close());

  it('does not expire a parcel whose deadline was extended after the sweep listed it', async () => {
    const o = await paidOrder(f, 'ord-ext-race', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TL-EXT-1');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    const deadline = (await f.services.shipments.get(s.id)).pickupDeadline!;
    f.clock.set(deadline + 1);
    // The sweep reads its list; the customer's extension commits right after.
    const list = f.store.shipments.deliveredPastDeadline.bind(f.store.shipments);
    let extended: number | undefined;
    f.store.shipments.deliveredPastDeadline = async (now, limit) => {
      const due = await list(now, limit);
      extended = (await f.services.shipments.extendPickup(s.id, 24 * 3_600_000, { actor: 'customer' })).pickupDeadline;
      return due;
    };
    const expired = await f.services.parcels.expireDue();
    const after = await f.services.shipments.get(s.id);
    expect(extended).toBe(deadline + 24 * 3_600_000);
    expect({ expired, state: after.state, pickupDeadline: after.pickupDeadline }).toEqual({ expired: 0, state: 'delivered', pickupDeadline: deadline + 24 * 3_600_000 });
  });
});
