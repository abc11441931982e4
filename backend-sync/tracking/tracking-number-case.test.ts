import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { acceptAndApply, noticesOf, scanAt } from '../testing/backend-tracking.js';
import { scan } from '../testing/tracking-helpers.js';

// One spelling per parcel (TrackingNumber): a number typed in small letters is the carrier's
// number in capitals, on the shipment, in its timeline and on the tracking page.
describe('tracking numbers in small letters', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  it('a shipment recorded with the number in small letters joins the carrier scans of the printed number, and GET /track finds it either way', async () => {
    const o = await paidOrder(f, 'ord-case', [{ lineId: 'l1', size: 'M' }]);
    // The merchant typed the number as customers do; the carrier (and its webhooks) print 1Z…
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', '1z999aa10123456784');
    await acceptAndApply(f, [scan('1Z999AA10123456784', 'in_transit', scanAt(f, 0)), scan('1Z999AA10123456784', 'out_for_delivery', scanAt(f, 60))]);
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, scanAt(f, 120), { actor: 'locker' });
    await f.services.tracking.applier.drain();
    // One timeline: the carrier's scans moved the shipment, and the page for the printed number shows the locker.
    expect(await noticesOf(f, 'shipment.out_for_delivery', s.id)).toHaveLength(1);
    const app = await f.app();
    const page = (await app.inject({ method: 'GET', url: '/track/1Z999AA10123456784' })).json<{ status: string }>();
    expect(page.status).toBe('available_for_pickup');
    expect((await app.inject({ method: 'GET', url: '/track/1z999aa10123456784' })).json<{ status: string }>().status).toBe('available_for_pickup');
  });
});
