import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { twoLineOrder as order } from '../testing/order-helpers.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// A provider answers a repeated capture key with its first capture (as the simulated one and
// real ones do). Every confirmation of an order captures the order's total under one key, so
// a retry after a lost answer, or a second instance, records what was really captured; the
// lines cancelled before the capture was recorded are refunded from it. The customer keeps
// paying for the open lines only, and no refund exceeds the capture.
describe('the capture under its idempotency key, around line cancellations', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
  });
  afterEach(() => f.close());

  /** Wraps the provider: money really moves only on the first capture of a key (the provider replays the rest). */
  function trackCaptures(): { moved: () => number } {
    const real = f.payments.capture.bind(f.payments);
    const firstAmount = new Map<string, number>();
    f.payments.capture = async (req) => {
      const fresh = !f.payments.captures.has(req.idempotencyKey);
      const r = await real(req);
      if (fresh && r.ok) firstAmount.set(req.idempotencyKey, req.amountCents);
      return r;
    };
    return { moved: () => [...firstAmount.values()].reduce((n, a) => n + a, 0) };
  }
  const refundedCents = (): number => [...f.payments.refunds.values()].filter((r) => r.ok).reduce((n, r) => n + r.amountCents, 0);

  it('a confirmation retried after a lost provider answer keeps the cancelled line paid', async () => {
    const { body: o } = await f.services.orders.place('replay-key-00001', order('replay-key-00001'));
    const t = trackCaptures();
    const wrapped = f.payments.capture;
    // First attempt: the provider captures 4000 but the answer is lost (timeout / crash).
    f.payments.capture = async (req) => {
      await wrapped(req);
      throw new Error('socket hang up');
    };
    await expect(f.services.orders.confirmPayment(o.id, 'merchant')).rejects.toThrow(/socket hang up/);
    f.payments.capture = wrapped;
    // Still placed (nothing recorded): the merchant cancels l2, nothing to refund yet.
    await f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    // Retry: owed is now 1000, the provider replays the 4000 capture.
    await f.services.orders.confirmPayment(o.id, 'merchant');
    await f.services.orders.processRefunds();
    const after = await f.services.orders.get(o.id);
    expect({ state: after.state, moved: t.moved(), kept: t.moved() - refundedCents() }).toEqual({ state: 'payment_confirmed', moved: 4000, kept: 1000 });
  });

  it('two concurrent confirmations around a line cancel keep the cancelled line paid', async () => {
    const { body: o } = await f.services.orders.place('replay-key-00002', order('replay-key-00002'));
    const t = trackCaptures();
    const wrapped = f.payments.capture;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const captured = new Promise<void>((r) => (entered = r));
    let first = true;
    f.payments.capture = async (req) => {
      const r = await wrapped(req);
      if (first) {
        first = false;
        entered();
        await gate; // A's provider answer is slow to come back
      }
      return r;
    };
    const a = f.services.orders.confirmPayment(o.id, 'instance-a').then(() => 'ok', (e: unknown) => String(e));
    await captured;
    await f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    const b = await f.services.orders.confirmPayment(o.id, 'instance-b').then(() => 'ok', (e: unknown) => String(e));
    release();
    await a;
    await f.services.orders.processRefunds();
    const after = await f.services.orders.get(o.id);
    expect({ b, state: after.state, moved: t.moved(), kept: t.moved() - refundedCents() }).toEqual({ b: 'ok', state: 'payment_confirmed', moved: 4000, kept: 1000 });
  });
  it('two confirmations on either side of a line cancel refund the cancelled line once, never more than was captured', async () => {
    const { body: o } = await f.services.orders.place('replay-key-00003', order('replay-key-00003'));
    const t = trackCaptures();
    const wrapped = f.payments.capture;
    let releaseA!: () => void;
    const gateA = new Promise<void>((r) => (releaseA = r));
    let aEntered!: () => void;
    const aIn = new Promise<void>((r) => (aEntered = r));
    let releaseB!: () => void;
    const gateB = new Promise<void>((r) => (releaseB = r));
    let bEntered!: () => void;
    const bIn = new Promise<void>((r) => (bEntered = r));
    let calls = 0;
    f.payments.capture = async (req) => {
      const n = ++calls;
      if (n === 1) {
        aEntered();
        await gateA; // A (owed 4000) reaches the provider late
        return wrapped(req);
      }
      const r = await wrapped(req); // B (owed 1000) captures first
      bEntered();
      await gateB; // B's answer comes back after A recorded
      return r;
    };
    const a = f.services.orders.confirmPayment(o.id, 'instance-a').then(() => 'ok', (e: unknown) => String(e));
    await aIn;
    await f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    const b = f.services.orders.confirmPayment(o.id, 'instance-b').then(() => 'ok', (e: unknown) => String(e));
    await bIn;
    releaseA();
    expect(await a).toBe('ok');
    releaseB();
    await b;
    await f.services.orders.processRefunds();
    const after = await f.services.orders.get(o.id);
    expect({ state: after.state, captured: t.moved(), refunded: refundedCents() }).toEqual({ state: 'payment_confirmed', captured: 4000, refunded: 3000 });
  });
});
