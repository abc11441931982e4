import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { acceptAndApply, scanAt } from '../testing/backend-tracking.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { scan } from '../testing/tracking-helpers.js';

// A conflict that says "retry" while a number's milestones move its order (another instance
// kept changing the order: OrderTransitions gives up after five optimistic attempts) is
// contention, not poison: the number's scans wait in the inbox for the next pass. Before,
// they were dead-lettered, never entered history, and the shipment never moved.

describe('a transient conflict while applying', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-c', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  it("leaves that number's scans in the inbox, applies every other number, and applies them once the contention is over", async () => {
    const o = await paidOrder(f, 'ord-conflict', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-c', 'M', 'CF-1');
    // Another writer wins the order's version every time, for now: each attempt gives up after five.
    const orders = f.store.orders;
    const updateState = orders.updateState.bind(orders);
    let contended = true;
    orders.updateState = (...args: Parameters<typeof updateState>) => (contended ? Promise.resolve(false) : updateState(...args));
    await acceptAndApply(f, [scan('CF-1', 'picked_up', scanAt(f, 0)), scan('CF-1', 'in_transit', scanAt(f, 30)), scan('CF-OTHER', 'in_transit', scanAt(f, 30))]);
    expect(await f.store.tracking.deadLetters()).toEqual([]);
    expect(await f.store.tracking.history('CF-1')).toEqual([]);
    expect((await f.store.tracking.history('CF-OTHER')).map((h) => h.event.status)).toEqual(['in_transit']);
    expect(await f.store.tracking.inboxSize()).toBe(2);
    // Deferred on each pass of the drain (the whole batch's, then its own), and the drain ends.
    expect(f.services.tracking.metrics.counts.deferred).toBe(4);

    contended = false;
    await f.services.tracking.applier.drain();
    expect((await f.store.tracking.history('CF-1')).map((h) => h.event.status)).toEqual(['picked_up', 'in_transit']);
    expect((await f.services.shipments.get(s.id)).state).toBe('shipped');
    expect(await f.store.tracking.inboxSize()).toBe(0);
  });
});
