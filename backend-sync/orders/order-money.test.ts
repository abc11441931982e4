import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import type { App } from '../http/app.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

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

  it('captures only the open lines when a line was cancelled before the payment was confirmed', async () => {
    const id = await placeTwoLines('money-key-000001');
    const cancel = await app.inject({ method: 'POST', url: `/orders/${id}/cancellation`, headers: H, payload: { reason: 'out of stock', lineIds: ['l2'] } });
    expect(cancel.statusCode).toBe(200);
    const capture = vi.spyOn(f.payments, 'capture');
    const paid = await app.inject({ method: 'POST', url: `/orders/${id}/payment-confirmation`, headers: H });
    expect(paid.statusCode).toBe(200);
    await f.services.orders.processRefunds();
    const captured = capture.mock.calls[0]?.[0].amountCents ?? 0;
    // The customer owes 1000 (l1); l2 (2500) was cancelled before any money moved.
    expect({ captured, kept: captured - refundedCents() }).toEqual({ captured: 1000, kept: 1000 });
  });
});
