import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackendError } from '../shared/errors.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

describe('reservations', () => {
  let f: BackendFixture;
  beforeEach(() => {
    f = makeBackend();
    f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { S: 1, M: 2 }));
  });
  afterEach(() => f.close());

  const req = { orderRef: 'cart-1', lockerId: 'lk-a', size: 'M' as const };

  it('returns the same response for a retried idempotency key and books nothing more', () => {
    const first = f.services.reservations.reserve('key-aaaaaaaa', req);
    const again = f.services.reservations.reserve('key-aaaaaaaa', req);
    expect(again.body).toEqual(first.body);
    expect(again.replayed).toBe(true);
    expect(f.services.lockers.get('lk-a').compartments.filter((c) => c.state === 'held')).toHaveLength(1);
  });

  it('refuses the same key with a different body as a business-rule error', () => {
    f.services.reservations.reserve('key-bbbbbbbb', req);
    try {
      f.services.reservations.reserve('key-bbbbbbbb', { ...req, size: 'S' });
      expect.fail('should throw');
    } catch (err) {
      expect(isBackendError(err, 'IDEMPOTENCY_MISMATCH')).toBe(true);
    }
  });

  it('holds for 15 minutes by default and releases the capacity when the sweeper runs after expiry', () => {
    const a = f.services.reservations.reserve('key-1-aaaaaa', req).body;
    f.services.reservations.reserve('key-2-aaaaaa', { ...req, orderRef: 'cart-2' });
    expect(a.expiresAt - f.clock.now()).toBe(15 * 60_000);
    expect(() => f.services.reservations.reserve('key-3-aaaaaa', { ...req, orderRef: 'cart-3' })).toThrow(/no free compartment/);
    f.clock.advance(15 * 60_000);
    expect(f.services.reservations.sweep()).toBe(2);
    expect(f.services.reservations.get(a.id).status).toBe('expired');
    expect(f.services.reservations.reserve('key-3-aaaaaa', { ...req, orderRef: 'cart-3' }).body.status).toBe('held');
  });

  it('releases an expired hold lazily when a new checkout claims, even before the sweeper runs', () => {
    f.services.reservations.reserve('key-1-cccccc', { ...req, size: 'S' });
    f.clock.advance(15 * 60_000 + 1);
    const search = f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, size: 'S', limit: 5 });
    expect(search[0]?.available.S).toBe(1);
    const second = f.services.reservations.reserve('key-2-cccccc', { ...req, orderRef: 'cart-9', size: 'S' });
    expect(second.body.status).toBe('held');
  });

  it('confirms a hold at order placement so the sweeper no longer expires it', () => {
    const hold = f.services.reservations.reserve('key-1-dddddd', req).body;
    const order = f.services.orders.place('order-key-1', {
      orderRef: 'cart-1',
      customer: { name: 'Ada', email: 'ada@example.com' },
      currency: 'EUR',
      lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 1500, size: 'M' }],
      reservationIds: [hold.id],
    }).body;
    f.clock.advance(60 * 60_000);
    f.services.reservations.sweep();
    const r = f.services.reservations.get(hold.id);
    expect(r.status).toBe('confirmed');
    expect(r.orderId).toBe(order.id);
  });

  it('refuses to confirm a hold that already expired', () => {
    const hold = f.services.reservations.reserve('key-1-eeeeee', req).body;
    f.clock.advance(16 * 60_000);
    expect(() =>
      f.services.orders.place('order-key-2', {
        orderRef: 'cart-1',
        customer: { name: 'Ada', email: 'ada@example.com' },
        currency: 'EUR',
        lines: [{ lineId: 'l1', sku: 'book', quantity: 1, unitPriceCents: 1500, size: 'M' }],
        reservationIds: [hold.id],
      }),
    ).toThrow(/no longer held/);
    // Nothing of the failed placement remains: the idempotency key is free to use again.
    expect(f.store.idempotency.get('order', 'order-key-2')).toBeUndefined();
  });

  it('does not offer a locker that has been offline longer than the grace time', () => {
    f.store.lockers.setPresence('lk-a', false, f.clock.now(), undefined);
    f.clock.advance(f.config.presence.offlineGraceMs + 1);
    expect(() => f.services.reservations.reserve('key-off-aaaa', req)).toThrow(/offline/);
    expect(f.services.lockers.search({ lat: 52.52, lng: 13.405, radiusM: 100, limit: 5 })).toEqual([]);
    f.store.lockers.setPresence('lk-a', true, f.clock.now(), undefined);
    expect(f.services.reservations.reserve('key-off-aaaa', req).body.status).toBe('held');
  });
});
