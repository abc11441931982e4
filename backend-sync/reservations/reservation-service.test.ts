import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackendError } from '../shared/errors.js';
import { requestHash } from '../shared/idempotency.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

describe('reservations', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { S: 1, M: 2 }));
  });
  afterEach(() => f.close());

  const req = { orderRef: 'cart-1', lockerId: 'lk-a', size: 'M' as const };

  it('returns the same response for a retried idempotency key and books nothing more', async () => {
    const first = await f.services.reservations.reserve('key-aaaaaaaa', req);
    const again = await f.services.reservations.reserve('key-aaaaaaaa', req);
    expect(again.body).toEqual(first.body);
    expect(again.replayed).toBe(true);
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'held')).toHaveLength(1);
  });

  it('answers concurrent requests under one key with one hold, the same for all of them', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => f.services.reservations.reserveGrouped('key-concurrent', req)));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'held')).toHaveLength(1);
  });

  it('refuses the same key with a different body as a business-rule error', async () => {
    await f.services.reservations.reserve('key-bbbbbbbb', req);
    const err: unknown = await f.services.reservations.reserve('key-bbbbbbbb', { ...req, size: 'S' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackendError(err, 'IDEMPOTENCY_MISMATCH')).toBe(true);
  });

  it('remembers a key for the retention window (24 h): within it a retry replays, after it the sweeper forgets the key', async () => {
    const first = await f.services.reservations.reserveGrouped('key-retained', req);
    await f.services.reservations.release(first.body.id, 'checkout', 'abandoned');
    f.clock.advance(24 * 60 * 60_000);
    await f.services.sweeper.tick();
    const within = await f.services.reservations.reserveGrouped('key-retained', req);
    expect(within).toMatchObject({ replayed: true, body: { id: first.body.id } });
    f.clock.advance(1);
    await f.services.sweeper.tick();
    expect(await f.store.idempotency.get('reservation', 'key-retained')).toBeUndefined();
    // Forgotten: the key is a new request, with a new hold (and may even carry another body).
    const after = await f.services.reservations.reserveGrouped('key-retained', { ...req, size: 'S' });
    expect(after.replayed).toBe(false);
    expect(after.body.id).not.toBe(first.body.id);
    expect(after.body.size).toBe('S');
  });

  it('refuses to replay a stored response that no longer matches its schema, naming the row', async () => {
    const now = f.clock.now();
    await f.store.idempotency.put('reservation', 'key-corrupt-1', { requestHash: requestHash(req), statusCode: 201, responseJson: '{"id":42}' }, now);
    const err: unknown = await f.services.reservations.reserve('key-corrupt-1', req).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isBackendError(err, 'INTERNAL')).toBe(true);
    expect((err as Error & { details?: unknown }).details).toMatchObject({ table: 'idempotency', key: 'key-corrupt-1' });
  });

  it('holds for 15 minutes by default and releases the capacity when the sweeper runs after expiry', async () => {
    const a = (await f.services.reservations.reserve('key-1-aaaaaa', req)).body;
    await f.services.reservations.reserve('key-2-aaaaaa', { ...req, orderRef: 'cart-2' });
    expect(a.expiresAt - f.clock.now()).toBe(15 * 60_000);
    await expect(f.services.reservations.reserve('key-3-aaaaaa', { ...req, orderRef: 'cart-3' })).rejects.toThrow(/no free compartment/);
    f.clock.advance(15 * 60_000);
    expect(await f.services.reservations.sweep()).toBe(2);
    expect((await f.services.reservations.get(a.id)).status).toBe('expired');
    expect((await f.services.reservations.reserve('key-3-aaaaaa', { ...req, orderRef: 'cart-3' })).body.status).toBe('held');
  });

  it('forgets an abandoned hold 30 days after it ended (the sweeper), and keeps the state log and the ordered holds', async () => {
    const abandoned = (await f.services.reservations.reserve('key-1-eeeeee', req)).body;
    const ordered = (await f.services.reservations.reserve('key-2-eeeeee', { ...req, orderRef: 'cart-2' })).body;
    await f.services.orders.place('order-key-e', {
      orderRef: 'cart-2',
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 1500, size: 'M' }],
      reservationIds: [ordered.id],
    });
    f.clock.advance(15 * 60_000);
    await f.services.sweeper.tick();
    expect((await f.services.reservations.get(abandoned.id)).status).toBe('expired');
    f.clock.advance(30 * 86_400_000);
    await f.services.sweeper.tick();
    expect((await f.services.reservations.get(abandoned.id)).status).toBe('expired');
    f.clock.advance(1);
    await f.services.sweeper.tick();
    await expect(f.services.reservations.get(abandoned.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await f.services.reservations.get(ordered.id)).status).toBe('confirmed');
    expect((await f.store.stateLog.list('reservation', abandoned.id)).map((e) => e.to)).toEqual(['held', 'expired']);
  });

  it('releases an expired hold lazily when a new checkout claims, even before the sweeper runs', async () => {
    await f.services.reservations.reserve('key-1-cccccc', { ...req, size: 'S' });
    f.clock.advance(15 * 60_000 + 1);
    const search = await f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, size: 'S', limit: 5 });
    expect(search[0]?.available.S).toBe(1);
    const second = await f.services.reservations.reserve('key-2-cccccc', { ...req, orderRef: 'cart-9', size: 'S' });
    expect(second.body.status).toBe('held');
  });

  it('releases a hold once, and answers a second release with the released hold', async () => {
    const hold = (await f.services.reservations.reserve('key-1-ffffff', req)).body;
    expect((await f.services.reservations.release(hold.id, 'checkout', 'abandoned')).status).toBe('released');
    expect((await f.services.reservations.release(hold.id, 'checkout', 'abandoned')).status).toBe('released');
    const log = (await f.store.stateLog.list('reservation', hold.id)).map((e) => e.to);
    expect(log).toEqual(['held', 'released']);
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'held')).toHaveLength(0);
  });

  it('confirms a hold at order placement so the sweeper no longer expires it', async () => {
    const hold = (await f.services.reservations.reserve('key-1-dddddd', req)).body;
    const order = (
      await f.services.orders.place('order-key-1', {
        orderRef: 'cart-1',
        customer: { name: 'Ada', email: 'ada@example.com' },
        currency: 'EUR',
        lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 1500, size: 'M' }],
        reservationIds: [hold.id],
      })
    ).body;
    f.clock.advance(60 * 60_000);
    await f.services.reservations.sweep();
    const r = await f.services.reservations.get(hold.id);
    expect(r.status).toBe('confirmed');
    expect(r.orderId).toBe(order.id);
  });

  it('refuses to confirm a hold that already expired', async () => {
    const hold = (await f.services.reservations.reserve('key-1-eeeeee', req)).body;
    f.clock.advance(16 * 60_000);
    await expect(
      f.services.orders.place('order-key-2', {
        orderRef: 'cart-1',
        customer: { name: 'Ada', email: 'ada@example.com' },
        currency: 'EUR',
        lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 1500, size: 'M' }],
        reservationIds: [hold.id],
      }),
    ).rejects.toThrow(/no longer held/);
    // Nothing of the failed placement remains: the idempotency key is free to use again.
    expect(await f.store.idempotency.get('order', 'order-key-2')).toBeUndefined();
  });

  it('says why a hold was refused: unknown locker, locker out of service, no free compartment; and holds nothing', async () => {
    const code = (err: unknown): string | undefined => (isBackendError(err) ? err.code : undefined);
    expect(code(await f.services.reservations.reserve('key-nope-aaaa', { ...req, lockerId: 'lk-nope' }).catch((e: unknown) => e))).toBe('NOT_FOUND');
    await f.services.lockers.setStatus('lk-a', 'out_of_service');
    const closed: unknown = await f.services.reservations.reserve('key-oos-aaaa', req).catch((e: unknown) => e);
    expect(code(closed)).toBe('BUSINESS_RULE');
    expect((closed as Error).message).toMatch(/not operating/);
    await f.services.lockers.setStatus('lk-a', 'operating');
    await f.services.reservations.reserve('key-m1-aaaa', req);
    await f.services.reservations.reserve('key-m2-aaaa', req);
    expect(code(await f.services.reservations.reserve('key-m3-aaaa', req).catch((e: unknown) => e))).toBe('NO_CAPACITY');
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'held')).toHaveLength(2);
    // A refused request stores no response: the key answers anew once the reason is gone.
    expect(await f.store.idempotency.get('reservation', 'key-oos-aaaa')).toBeUndefined();
  });

  it('does not offer a locker that has been offline longer than the grace time', async () => {
    await f.store.lockers.setPresence('lk-a', false, f.clock.now(), undefined);
    f.clock.advance(f.config.presence.offlineGraceMs + 1);
    await expect(f.services.reservations.reserve('key-off-aaaa', req)).rejects.toThrow(/offline/);
    expect(await f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, limit: 5 })).toEqual([]);
    await f.store.lockers.setPresence('lk-a', true, f.clock.now(), undefined);
    expect((await f.services.reservations.reserve('key-off-aaaa', req)).body.status).toBe('held');
  });
});
