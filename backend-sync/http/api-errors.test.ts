import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from './app.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

// Every error status the API promises, with the one error body shape.

interface ErrorJson {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

describe('API errors', () => {
  let f: BackendFixture;
  let app: App;
  beforeEach(async () => {
    f = await makeBackend({ config: { rateLimit: { windowMs: 60_000, max: 30 } } });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    app = await f.app();
  });
  afterEach(() => f.close());

  const reserve = (key: string, body: unknown) =>
    app.inject({ method: 'POST', url: '/reservations', headers: { 'idempotency-key': key }, payload: body as Record<string, unknown> });

  it('answers 413 PAYLOAD_TOO_LARGE for a body over 256 KiB, and reserves nothing', async () => {
    const res = await reserve('key-413-aaaa', { orderRef: 'x'.repeat(300 * 1024), lockerId: 'lk-a', size: 'M' });
    expect(res.statusCode).toBe(413);
    expect(res.json<ErrorJson>().error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await f.store.lockers.compartment('lk-a', 'M1'))?.state).toBe('free');
  });

  it('answers 415 UNSUPPORTED_MEDIA_TYPE for a body that is not JSON', async () => {
    const res = await app.inject({ method: 'POST', url: '/reservations', headers: { 'idempotency-key': 'key-415-aaaa', 'content-type': 'application/xml' }, payload: '<reservation/>' });
    expect(res.statusCode).toBe(415);
    expect(res.json<ErrorJson>().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers 400 INVALID_INPUT with the zod issues for a body that breaks the schema', async () => {
    const res = await reserve('key-400-aaaa', { orderRef: 'c', lockerId: 'lk-a', size: 'XXL' });
    expect(res.statusCode).toBe(400);
    const body = res.json<ErrorJson>();
    expect(body.error.code).toBe('INVALID_INPUT');
    expect(JSON.stringify(body.error.details)).toContain('size');
  });

  it('answers 400 for a missing Idempotency-Key, a bad query and malformed JSON', async () => {
    const noKey = await app.inject({ method: 'POST', url: '/reservations', payload: { orderRef: 'c', lockerId: 'lk-a', size: 'M' } });
    expect(noKey.statusCode).toBe(400);
    const badQuery = await app.inject({ method: 'GET', url: '/lockers/search?lat=abc&lng=1' });
    expect(badQuery.statusCode).toBe(400);
    expect(badQuery.json<ErrorJson>().error.code).toBe('INVALID_INPUT');
    const badJson = await app.inject({ method: 'POST', url: '/lockers', headers: { 'content-type': 'application/json' }, payload: '{"id":' });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json<ErrorJson>().error.code).toBe('INVALID_INPUT');
  });

  it('answers 404 NOT_FOUND for an unknown locker, order, reservation and route', async () => {
    for (const url of ['/lockers/lk-nope', '/orders/ord_nope', '/reservations/res_nope', '/no/such/route']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.json<ErrorJson>().error.code).toBe('NOT_FOUND');
    }
    const res = await reserve('key-404-aaaa', { orderRef: 'c', lockerId: 'lk-nope', size: 'M' });
    expect(res.statusCode).toBe(404);
  });

  it('answers 409 when no compartment is free and when a locker id is taken', async () => {
    expect((await reserve('key-409-aaaa', { orderRef: 'c1', lockerId: 'lk-a', size: 'M' })).statusCode).toBe(201);
    const full = await reserve('key-409-bbbb', { orderRef: 'c2', lockerId: 'lk-a', size: 'M' });
    expect(full.statusCode).toBe(409);
    expect(full.json<ErrorJson>().error.code).toBe('NO_CAPACITY');
    const dup = await app.inject({ method: 'POST', url: '/lockers', payload: lockerInput('lk-a', 1, 1) });
    expect(dup.statusCode).toBe(409);
    expect(dup.json<ErrorJson>().error.code).toBe('CONFLICT');
  });

  it('answers 422 for a reused Idempotency-Key with another body and for a refused transition', async () => {
    expect((await reserve('key-422-aaaa', { orderRef: 'c1', lockerId: 'lk-a', size: 'M' })).statusCode).toBe(201);
    const replay = await reserve('key-422-aaaa', { orderRef: 'c1', lockerId: 'lk-a', size: 'M' });
    expect(replay.statusCode).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    const mismatch = await reserve('key-422-aaaa', { orderRef: 'c-other', lockerId: 'lk-a', size: 'M' });
    expect(mismatch.statusCode).toBe(422);
    expect(mismatch.json<ErrorJson>().error.code).toBe('IDEMPOTENCY_MISMATCH');
    const order = await app.inject({
      method: 'POST',
      url: '/orders',
      headers: { 'idempotency-key': 'order-422-aaaa' },
      payload: { orderRef: 'o1', customer: { name: 'Ada', email: 'ada@example.com' }, currency: 'EUR', lines: [{ lineId: 'l1', sku: 's', quantity: 1, unitPriceCents: 100, size: 'M' }] },
    });
    expect(order.statusCode).toBe(201);
    const early = await app.inject({ method: 'POST', url: `/orders/${order.json<{ id: string }>().id}/processing` });
    expect(early.statusCode).toBe(422);
    expect(early.json<ErrorJson>().error.code).toBe('INVALID_TRANSITION');
  });

  it('answers 429 with Retry-After once a client exceeds its request budget', async () => {
    let last = await app.inject({ method: 'GET', url: '/lockers/lk-a' });
    for (let i = 0; i < 30 && last.statusCode !== 429; i++) last = await app.inject({ method: 'GET', url: '/lockers/lk-a' });
    expect(last.statusCode).toBe(429);
    expect(last.json<ErrorJson>().error.code).toBe('RATE_LIMITED');
    expect(Number(last.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });
});
