import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { pgSuitesRun, testEngines } from '../testing/pg-test-db.js';
import { twoLineOrder as order, outcome } from '../testing/order-helpers.js';
import { twoInstancesSharingPayments } from '../testing/two-instances.js';

// A capture whose answer was lost may have taken the money. An order cancelled (whole or
// line by line) before anyone learnt the answer must not keep it: the capture is asked
// again under the same idempotency key (the provider replays what it did), and whatever was
// captured for what is cancelled is refunded once. A capture that was declined, or that was
// never sent, is refunded nothing.

/** What the provider holds: captured money, and the refunds it paid (by key). */
function money(f: BackendFixture): { captured: number; refunds: number[] } {
  const captured = [...f.payments.captures.values()].filter((r) => r.ok).length * 4000;
  const refunds = [...f.payments.refunds.values()].filter((r) => r.ok).map((r) => r.amountCents);
  return { captured, refunds };
}

/** A placed order whose one capture attempt reached the provider (captured, or declined) but whose answer was lost. */
async function lostCapture(f: BackendFixture, key: string, decline = false): Promise<string> {
  const { body: o } = await f.services.orders.place(key, order(key));
  f.payments.declineCaptures = decline;
  f.payments.captureFault = 'lose_answer';
  expect(await outcome(f.services.orders.confirmPayment(o.id, 'merchant'))).toMatch(/timeout/);
  f.payments.captureFault = undefined;
  f.payments.declineCaptures = false;
  return o.id;
}

const engines = await testEngines('capture lost, then cancelled');

describe.each(engines)('a cancellation after a capture whose answer was lost, on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
  });
  afterEach(() => f.close());

  it('refunds the money the lost capture took when the whole order is cancelled', async () => {
    const id = await lostCapture(f, 'lost-cancel-0001');
    await f.services.orders.cancel(id, { reason: 'customer changed mind' }, 'customer');
    await f.services.orders.processRefunds();
    await f.services.orders.processRefunds();
    const view = await f.services.orders.get(id);
    expect({ state: view.state, ...money(f), recorded: view.refunds.map((r) => [r.amountCents, r.state]) }).toEqual({
      state: 'cancelled',
      captured: 4000,
      refunds: [4000],
      recorded: [[4000, 'succeeded']],
    });
  });

  it('keeps the obligation when the provider is unreachable at cancel time, and the sweeper refunds it later, once', async () => {
    const id = await lostCapture(f, 'lost-cancel-0002');
    f.payments.captureFault = 'unreachable';
    expect(await outcome(f.services.orders.cancel(id, { reason: 'customer changed mind' }, 'customer'))).toBe('ok');
    await f.services.orders.processRefunds();
    expect({ state: (await f.services.orders.get(id)).state, ...money(f) }).toEqual({ state: 'cancelled', captured: 4000, refunds: [] });
    // The provider is back; the sweeper asks again once the last attempt's lease lapsed.
    f.payments.captureFault = undefined;
    f.clock.advance(60 * 60_000);
    await f.services.orders.processRefunds();
    f.clock.advance(60 * 60_000);
    await f.services.orders.processRefunds();
    expect(money(f)).toEqual({ captured: 4000, refunds: [4000] });
  });

  it('refunds nothing when the lost answer was a decline', async () => {
    const id = await lostCapture(f, 'lost-cancel-0003', true);
    await f.services.orders.cancel(id, { reason: 'customer changed mind' }, 'customer');
    await f.services.orders.processRefunds();
    const view = await f.services.orders.get(id);
    expect({ state: view.state, ...money(f), refunds: view.refunds }).toEqual({ state: 'cancelled', captured: 0, refunds: [] });
  });

  it('asks the provider nothing for an order cancelled before any capture was sent', async () => {
    const { body: o } = await f.services.orders.place('lost-cancel-0004', order('lost-cancel-0004'));
    const keys: string[] = [];
    const real = f.payments.capture.bind(f.payments);
    f.payments.capture = (req) => {
      keys.push(req.idempotencyKey);
      return real(req);
    };
    await f.services.orders.cancel(o.id, { reason: 'customer changed mind' }, 'customer');
    f.clock.advance(60 * 60_000);
    await f.services.orders.processRefunds();
    expect({ keys, ...money(f) }).toEqual({ keys: [], captured: 0, refunds: [] });
  });

  it('refunds the cancelled line from the lost capture when only a line is cancelled and the customer never retries', async () => {
    const id = await lostCapture(f, 'lost-cancel-0005');
    await f.services.orders.cancel(id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    // Left to the customer's own retry for a while (it would answer them), then the refund pass asks.
    await f.services.orders.processRefunds();
    expect({ state: (await f.services.orders.get(id)).state, ...money(f) }).toEqual({ state: 'placed', captured: 4000, refunds: [] });
    f.clock.advance(60 * 60_000);
    await f.services.orders.processRefunds();
    f.clock.advance(60 * 60_000);
    await f.services.orders.processRefunds();
    const view = await f.services.orders.get(id);
    expect({ state: view.state, ...money(f) }).toEqual({ state: 'payment_confirmed', captured: 4000, refunds: [3000] });
  });
});

const runs = await pgSuitesRun('capture lost, then cancelled on two instances');

describe.skipIf(!runs)('two instances resolving a lost capture of a cancelled order (PostgreSQL)', () => {
  const instances = twoInstancesSharingPayments();
  let a: BackendFixture;
  let b: BackendFixture;
  beforeEach(() => {
    a = instances.a();
    b = instances.b();
  });

  it('refunds the captured money once when both cancel and both sweep at the same time', async () => {
    const id = await lostCapture(a, 'lost-cancel-two-1');
    a.payments.captureFault = 'unreachable';
    await Promise.all([a.services.orders.cancel(id, { reason: 'customer' }, 'customer'), b.services.orders.cancel(id, { reason: 'operator' }, 'ops')]);
    a.payments.captureFault = undefined;
    a.clock.advance(60 * 60_000);
    await Promise.all([a.services.orders.processRefunds(), b.services.orders.processRefunds()]);
    a.clock.advance(60 * 60_000);
    await Promise.all([a.services.orders.processRefunds(), b.services.orders.processRefunds()]);
    const view = await b.services.orders.get(id);
    expect({ state: view.state, ...money(a), recorded: view.refunds.map((r) => r.amountCents) }).toEqual({ state: 'cancelled', captured: 4000, refunds: [4000], recorded: [4000] });
  });

  it('refunds once when both cancel while the provider answers', async () => {
    const id = await lostCapture(a, 'lost-cancel-two-2');
    await Promise.all([a.services.orders.cancel(id, { reason: 'customer' }, 'customer'), b.services.orders.cancel(id, { reason: 'operator' }, 'ops')]);
    await Promise.all([a.services.orders.processRefunds(), b.services.orders.processRefunds()]);
    const view = await b.services.orders.get(id);
    expect({ state: view.state, ...money(a), recorded: view.refunds.map((r) => r.amountCents) }).toEqual({ state: 'cancelled', captured: 4000, refunds: [4000], recorded: [4000] });
  });
});
