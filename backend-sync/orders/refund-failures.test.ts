import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import type { App } from '../http/app.js';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';

// A refund the provider declines stays failed where an operator sees it (GET /admin/refunds,
// the backend_refunds_failed gauge) and can send it again (POST /admin/refunds/{id}/retry)
// under a new key, since the provider replays a decline to its key; a refund call whose
// answer was lost is retried by the sweeper under the same key after a backoff, and holds
// up no other refund. Never is a refund paid twice.

const keys = { merchant: 'merchant-key-0123456789abcdef', admin: 'admin-key-0123456789abcdef' };
const M = { authorization: `Bearer ${keys.merchant}` };
const A = { authorization: `Bearer ${keys.admin}` };

interface ListedRefund {
  id: string;
  orderId: string;
  amountCents: number;
  state: string;
  retries: number;
  lastError?: string;
}

const engines = await testEngines('refund failures');

describe.each(engines)('refunds the provider declines or does not answer, on %s', (engine) => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend({
      engine,
      config: {
        auth: {
          apiKeys: [
            { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(keys.merchant) },
            { id: 'ops', roles: ['admin'], sha256: apiKeyDigest(keys.admin) },
          ],
        },
      },
    });
    app = await f.app();
  });
  afterEach(() => f.close());

  /** A paid order of two lines (1000 + 2500); returns its id. */
  async function paidOrder(key: string): Promise<string> {
    const { body: o } = await f.services.orders.place(key, {
      orderRef: `ref-${key}`,
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [
        { lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 1000, size: 'M' },
        { lineId: 'l2', sku: 'b', quantity: 1, unitPriceCents: 2500, size: 'S' },
      ],
      reservationIds: [],
    });
    await f.services.orders.confirmPayment(o.id, 'merchant');
    return o.id;
  }
  const refunded = (): number => [...f.payments.refunds.values()].filter((r) => r.ok).reduce((n, r) => n + r.amountCents, 0);
  const listFailed = async (): Promise<ListedRefund[]> => {
    const res = await app.inject({ method: 'GET', url: '/admin/refunds?state=failed', headers: A });
    expect(res.statusCode).toBe(200);
    return res.json<{ refunds: ListedRefund[] }>().refunds;
  };
  const failedGauge = async (): Promise<string | undefined> => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: A });
    return /^backend_refunds_failed (\d+)$/m.exec(res.body)?.[1];
  };

  it('keeps a declined refund visible as failed, and pays it once when an operator retries it', async () => {
    const id = await paidOrder('refund-fail-0001');
    f.payments.declineRefunds = true;
    await f.services.orders.cancel(id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    await f.services.orders.processRefunds();
    const failed = await listFailed();
    expect({ failed: failed.map((r) => ({ orderId: r.orderId, amountCents: r.amountCents, state: r.state, lastError: r.lastError })), gauge: await failedGauge() }).toEqual({
      failed: [{ orderId: id, amountCents: 2500, state: 'failed', lastError: 'declined' }],
      gauge: '1',
    });
    const refundId = failed[0]?.id ?? '';
    // The provider would pay now (e.g. the card account was reopened); the operator retries.
    f.payments.declineRefunds = false;
    // The provider is slow to answer: the refund is still queued at the second click.
    const real = f.payments.refund.bind(f.payments);
    let answer!: () => void;
    const slow = new Promise<void>((r) => (answer = r));
    f.payments.refund = async (req) => {
      await slow;
      return real(req);
    };
    const retry = await app.inject({ method: 'POST', url: `/admin/refunds/${refundId}/retry`, headers: A });
    expect({ status: retry.statusCode, state: retry.json<ListedRefund>().state, retries: retry.json<ListedRefund>().retries }).toEqual({ status: 200, state: 'pending', retries: 1 });
    // A second click while it is queued queues nothing more.
    expect((await app.inject({ method: 'POST', url: `/admin/refunds/${refundId}/retry`, headers: A })).statusCode).toBe(200);
    answer();
    await f.services.orders.processRefunds();
    await f.services.orders.processRefunds();
    const view = await f.services.orders.get(id);
    expect({ refunds: view.refunds.map((r) => r.state), refunded: refunded(), keys: [...f.payments.refunds.keys()], listed: await listFailed(), gauge: await failedGauge() }).toEqual({
      refunds: ['succeeded'],
      refunded: 2500,
      keys: [`refund:${refundId}`, `refund:${refundId}:1`],
      listed: [],
      gauge: '0',
    });
    // Paid: nothing left to retry.
    const again = await app.inject({ method: 'POST', url: `/admin/refunds/${refundId}/retry`, headers: A });
    expect({ status: again.statusCode, code: again.json<{ error: { code: string } }>().error.code }).toEqual({ status: 422, code: 'INVALID_TRANSITION' });
  });

  it('retries a refund whose answer was lost under the same key after a backoff, without holding up the others', async () => {
    const first = await paidOrder('refund-fail-0002');
    const second = await paidOrder('refund-fail-0003');
    const real = f.payments.refund.bind(f.payments);
    const keysAsked: string[] = [];
    let lose = true;
    f.payments.refund = async (req) => {
      keysAsked.push(req.idempotencyKey);
      const r = await real(req);
      // The first order's refund is paid, but the answer never comes back.
      if (lose && req.amountCents === 1000) throw new Error('socket hang up');
      return r;
    };
    await f.services.orders.cancel(first, { reason: 'out of stock', lineIds: ['l1'] }, 'merchant');
    await f.services.orders.processRefunds();
    // Due again once its backoff passed, it is first in the next pass, beside another refund.
    f.clock.advance(61_000);
    await f.services.orders.cancel(second, { reason: 'changed mind', lineIds: ['l2'] }, 'merchant');
    await f.services.orders.processRefunds();
    const pending = await app.inject({ method: 'GET', url: '/admin/refunds?state=pending', headers: A });
    expect({
      first: (await f.services.orders.get(first)).refunds.map((r) => r.state),
      second: (await f.services.orders.get(second)).refunds.map((r) => r.state),
      listed: pending.json<{ refunds: ListedRefund[] }>().refunds.map((r) => ({ orderId: r.orderId, lastError: r.lastError })),
    }).toEqual({
      first: ['pending'],
      second: ['succeeded'],
      listed: [{ orderId: first, lastError: 'socket hang up' }],
    });
    lose = false;
    // Not again before its backoff...
    const asked = keysAsked.length;
    await f.services.orders.processRefunds();
    expect(keysAsked.length).toBe(asked);
    // ...then under the same key: the provider replays the refund it made.
    f.clock.advance(61 * 60_000);
    await f.services.orders.processRefunds();
    expect({ first: (await f.services.orders.get(first)).refunds.map((r) => r.state), refunded: refunded(), keys: new Set(keysAsked).size }).toEqual({
      first: ['succeeded'],
      refunded: 3500,
      keys: 2,
    });
  });

  it('refuses an unknown refund id and a malformed listing query', async () => {
    expect((await app.inject({ method: 'POST', url: '/admin/refunds/ref_nope/retry', headers: A })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/admin/refunds?state=succeeded', headers: A })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/admin/refunds?state=failed', headers: M })).statusCode).toBe(403);
  });
});
