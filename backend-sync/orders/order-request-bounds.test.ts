import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { apiKeyDigest } from '../auth/api-key-auth.js';
import type { App } from '../http/app.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

const keys = { merchant: 'merchant-key-0123456789abcdef' };
const H = { authorization: `Bearer ${keys.merchant}` };

describe('order requests: a malformed list is a 400 naming the field', () => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend({
      config: {
        auth: {
          apiKeys: [
            { id: 'shop', roles: ['merchant'], sha256: apiKeyDigest(keys.merchant) },
          ],
        },
      },
    });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405));
    app = await f.app();
  });
  afterEach(() => f.close());

  it('refuses a hold listed twice with a 400, and the hold stays held for a correct retry', async () => {
    const hold = (await f.services.reservations.reserve('hold-key-dup-0001', { orderRef: 'ref-dup', lockerId: 'lk-a', size: 'M' })).body;
    const place = (key: string, reservationIds: string[]) =>
      app.inject({
        method: 'POST',
        url: '/orders',
        headers: { ...H, 'idempotency-key': key },
        payload: {
          orderRef: 'ref-dup',
          customer: { name: 'Ada', email: 'ada@example.com' },
          currency: 'EUR',
          lines: [{ lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 1000, size: 'M' }],
          reservationIds,
        },
      });
    const bad = await place('dup-hold-key-0001', [hold.id, hold.id]);
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('reservation ids must be unique');
    expect((await f.store.reservations.get(hold.id))?.status).toBe('held');
    const good = await place('dup-hold-key-0002', [hold.id]);
    expect(good.statusCode).toBe(201);
    expect((await f.store.reservations.get(hold.id))?.status).toBe('confirmed');
  });
});
