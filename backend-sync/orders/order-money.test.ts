import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import type { App } from '../http/app.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { MAX_ORDER_TOTAL_CENTS } from './order-schemas.js';

const keys = { merchant: 'merchant-key-0123456789abcdef' };
const H = { authorization: `Bearer ${keys.merchant}` };

describe('order money: what is charged, refunded and accepted', () => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend({ config: { auth: { apiKeys: [{ id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(keys.merchant) }] } } });
    app = await f.app();
  });
  afterEach(() => f.close());

  async function placeTwoLines(key: string): Promise<string> {
    const res = await app.inject({
      method: 'POST',
      url: '/orders',
      headers: { ...H, 'idempotency-key': key },
      payload: {
        orderRef: `ref-${key}`,
        customer: { name: 'Ada', email: 'ada@example.com' },
        currency: 'EUR',
        lines: [
          { lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 1000, size: 'M' },
          { lineId: 'l2', sku: 'b', quantity: 1, unitPriceCents: 2500, size: 'S' },
        ],
      },
    });
    expect(res.statusCode).toBe(201);
    return res.json<{ id: string }>().id;
  }

  const refundedCents = (): number => [...f.payments.refunds.values()].filter((r) => r.ok).reduce((n, r) => n + r.amountCents, 0);

  it('refunds a line cancelled before the payment was confirmed from the capture: the customer pays for the open lines only', async () => {
    const id = await placeTwoLines('money-key-000001');
    const cancel = await app.inject({ method: 'POST', url: `/orders/${id}/cancellation`, headers: H, payload: { reason: 'out of stock', lineIds: ['l2'] } });
    expect(cancel.statusCode).toBe(200);
    const capture = vi.spyOn(f.payments, 'capture');
    const paid = await app.inject({ method: 'POST', url: `/orders/${id}/payment-confirmation`, headers: H });
    expect(paid.statusCode).toBe(200);
    await f.services.orders.processRefunds();
    const captured = capture.mock.calls[0]?.[0].amountCents ?? 0;
    // The customer owes 1000 (l1); l2 (2500) was cancelled before any money moved. The
    // capture is the order's total, the same for every attempt under its key; l2 comes back.
    expect({ captured, kept: captured - refundedCents() }).toEqual({ captured: 3500, kept: 1000 });
  });
  it('cancels an unpaid order whose every line was cancelled, so it can no longer be charged', async () => {
    const id = await placeTwoLines('money-key-000002');
    const cancel = await app.inject({ method: 'POST', url: `/orders/${id}/cancellation`, headers: H, payload: { reason: 'out of stock', lineIds: ['l1', 'l2'] } });
    expect(cancel.statusCode).toBe(200);
    const view = cancel.json<{ state: string; lines: Array<{ state: string }> }>();
    expect(view.lines.every((l) => l.state === 'cancelled')).toBe(true);
    expect(view.state).toBe('cancelled');
    const paid = await app.inject({ method: 'POST', url: `/orders/${id}/payment-confirmation`, headers: H });
    expect({ status: paid.statusCode, captures: f.payments.captures.size }).toEqual({ status: 422, captures: 0 });
  });

  it('cancels a paid order whose every line was cancelled one by one, and refunds all of it', async () => {
    const id = await placeTwoLines('money-key-000004');
    await f.services.orders.confirmPayment(id, 'merchant');
    await f.services.orders.cancel(id, { reason: 'out of stock', lineIds: ['l1'] }, 'merchant');
    await f.services.orders.processRefunds();
    const last = await f.services.orders.cancel(id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    await f.services.orders.processRefunds();
    expect({ state: last.state, refunded: refundedCents() }).toEqual({ state: 'cancelled', refunded: 3500 });
  });
  it('releases the checkout holds of an order cancelled line by line', async () => {
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    const hold = (await f.services.reservations.reserve('hold-key-money01', { orderRef: 'ref-held', lockerId: 'lk-a', size: 'M' })).body;
    const { body: o } = await f.services.orders.place('money-key-000005', {
      orderRef: 'ref-held',
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 1000, size: 'M' }],
      reservationIds: [hold.id],
    });
    await f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l1'] }, 'merchant');
    expect((await f.services.reservations.get(hold.id)).status).toBe('released');
  });
  async function placeHuge(key: string, lines: Array<{ quantity: number; unitPriceCents: number }>): Promise<{ status: number; paths: string[]; stored: number }> {
    const res = await app.inject({
      method: 'POST',
      url: '/orders',
      headers: { ...H, 'idempotency-key': key },
      payload: {
        orderRef: `ref-${key}`,
        customer: { name: 'Ada', email: 'ada@example.com' },
        currency: 'EUR',
        lines: lines.map((l, i) => ({ lineId: `l${String(i)}`, sku: 'a', size: 'M', ...l })),
      },
    });
    const issues = res.statusCode === 400 ? res.json<{ error: { details: { issues: Array<{ path: string }> } } }>().error.details.issues : [];
    const stored = await f.store.orders.listByCustomer({ customerKey: 'ada@example.com', limit: 10 });
    return { status: res.statusCode, paths: issues.map((i) => i.path), stored: stored.length };
  }

  it('refuses with a 400 naming the price, and stores nothing, a unit price beyond exact integer range', async () => {
    const res = await placeHuge('money-key-000003', [{ quantity: 1000, unitPriceCents: Number.MAX_SAFE_INTEGER }]);
    expect(res).toEqual({ status: 400, paths: expect.arrayContaining([expect.stringContaining('unitPriceCents')]) as string[], stored: 0 });
  });

  it(`refuses with a 400 naming the lines, and stores nothing, an order whose total is above ${String(MAX_ORDER_TOTAL_CENTS)} cents`, async () => {
    const res = await placeHuge('money-key-000006', [
      { quantity: 1000, unitPriceCents: MAX_ORDER_TOTAL_CENTS / 1000 },
      { quantity: 1, unitPriceCents: 1 },
    ]);
    expect(res).toEqual({ status: 400, paths: [expect.stringContaining('lines')], stored: 0 });
  });
});
