import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PlaceOrderRequest } from './order-schemas.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// The capture call runs outside any transaction (a provider call must hold no database
// lock); a cancellation landing while the provider answers must not leave the customer
// charged for what was cancelled.
describe('a payment capture racing a cancellation', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
  });
  afterEach(() => f.close());

  const order = (key: string, lines: PlaceOrderRequest['lines']): PlaceOrderRequest => ({
    orderRef: `ref-${key}`,
    customer: { name: 'Ada', email: 'ada@example.com' },
    currency: 'EUR',
    lines,
    reservationIds: [],
  });

  /** Confirms the payment, running `meanwhile` while the provider is capturing. */
  async function confirmWhile(orderId: string, meanwhile: () => Promise<unknown>): Promise<{ ok: boolean; captured: number }> {
    const realCapture = f.payments.capture.bind(f.payments);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inCapture = new Promise<void>((r) => (entered = r));
    let captured = 0;
    f.payments.capture = async (req) => {
      entered();
      await gate;
      const result = await realCapture(req);
      if (result.ok) captured += req.amountCents;
      return result;
    };
    const confirming = f.services.orders.confirmPayment(orderId, 'merchant').then(
      () => true,
      () => false,
    );
    await inCapture;
    await meanwhile();
    release();
    const ok = await confirming;
    await f.services.orders.processRefunds();
    return { ok, captured };
  }

  const refundedCents = (): number => [...f.payments.refunds.values()].filter((r) => r.ok).reduce((n, r) => n + r.amountCents, 0);

  it('refunds a capture that completes after the whole order was cancelled, and keeps the order cancelled', async () => {
    const { body: o } = await f.services.orders.place('race-key-000001', order('race-key-000001', [{ lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 4200, size: 'M' }]));
    const outcome = await confirmWhile(o.id, async () => {
      expect((await f.services.orders.cancel(o.id, { reason: 'changed mind' }, 'merchant')).state).toBe('cancelled');
    });
    const after = await f.services.orders.get(o.id);
    expect({ confirmed: outcome.ok, captured: outcome.captured, state: after.state, kept: outcome.captured - refundedCents(), refunds: after.refunds.map((r) => `${String(r.amountCents)}:${r.state}`) }).toEqual({
      confirmed: false,
      captured: 4200,
      state: 'cancelled',
      kept: 0,
      refunds: ['4200:succeeded'],
    });
  });

  it('refunds a line cancelled while the payment was being captured, keeping only the open lines', async () => {
    const { body: o } = await f.services.orders.place(
      'race-key-000002',
      order('race-key-000002', [
        { lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 1000, size: 'M' },
        { lineId: 'l2', sku: 'b', quantity: 2, unitPriceCents: 1500, size: 'S' },
      ]),
    );
    const outcome = await confirmWhile(o.id, () => f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant'));
    const after = await f.services.orders.get(o.id);
    expect({ confirmed: outcome.ok, captured: outcome.captured, state: after.state, kept: outcome.captured - refundedCents() }).toEqual({
      confirmed: true,
      captured: 4000,
      state: 'payment_confirmed',
      kept: 1000,
    });
  });
});
