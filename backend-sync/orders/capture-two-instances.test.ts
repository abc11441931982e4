import { beforeEach, describe, expect, it } from 'vitest';
import type { BackendFixture } from '../testing/backend-fixture.js';
import { pgSuitesRun } from '../testing/pg-test-db.js';
import { twoLineOrder } from '../testing/order-helpers.js';
import { twoInstancesSharingPayments } from '../testing/two-instances.js';

// Two instances on one PostgreSQL schema sharing one payment provider (as a real deployment
// does): instance A confirms, instance B cancels a line and confirms too.
const runs = await pgSuitesRun('capture on two instances');

describe.skipIf(!runs)('two instances confirming around a line cancel (PostgreSQL)', () => {
  const instances = twoInstancesSharingPayments();
  let a: BackendFixture;
  let b: BackendFixture;
  beforeEach(() => {
    a = instances.a();
    b = instances.b();
  });

  const order = twoLineOrder('two-capture');

  it('keeps only what the open lines cost', async () => {
    const { body: o } = await a.services.orders.place('two-capture-0001', order);
    const real = a.payments.capture.bind(a.payments);
    const firstAmount = new Map<string, number>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inA = new Promise<void>((r) => (entered = r));
    let first = true;
    a.payments.capture = async (req) => {
      const fresh = !a.payments.captures.has(req.idempotencyKey);
      const r = await real(req);
      if (fresh && r.ok) firstAmount.set(req.idempotencyKey, req.amountCents);
      if (first) {
        first = false;
        entered();
        await gate; // A's answer is slow
      }
      return r;
    };
    const confirmA = a.services.orders.confirmPayment(o.id, 'a').then(() => 'ok', (e: unknown) => (e as Error).message);
    await inA;
    await b.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    const confirmB = await b.services.orders.confirmPayment(o.id, 'b').then(() => 'ok', (e: unknown) => (e as Error).message);
    release();
    const resultA = await confirmA;
    await a.services.orders.processRefunds();
    await b.services.orders.processRefunds();
    const captured = [...firstAmount.values()].reduce((n, x) => n + x, 0);
    const refunded = [...a.payments.refunds.values()].filter((r) => r.ok).reduce((n, r) => n + r.amountCents, 0);
    const view = await a.services.orders.get(o.id);
    expect({ resultA, confirmB, state: view.state, captured, kept: captured - refunded }).toEqual({
      resultA: 'order in state payment_confirmed cannot confirm payment',
      confirmB: 'ok',
      state: 'payment_confirmed',
      captured: 4000,
      kept: 1000,
    });
  });
});
