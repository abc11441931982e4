import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBackendError } from '../shared/errors.js';
import { sql } from '../store/sql/sql-text.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { testEngines } from '../testing/pg-test-db.js';

// The checkout's hot path (reserveGrouped, behind POST /reservations) on every engine: the
// store's one idempotent hold when a compartment is free (PostgreSQL: one statement), the
// general path when none is, and the same guarantees on both.

const engines = await testEngines('reservation hold');
const storedResponse = sql(`SELECT response_json FROM idempotency WHERE scope = 'reservation' AND key = ?`);
const heldAt = sql(`SELECT count(*) AS n FROM compartments WHERE locker_id = ? AND state = 'held'`);

const errorCode = (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (e: unknown) => (e as { code?: string }).code,
  );

describe.each(engines)('reserveGrouped on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { S: 1, M: 2 }));
  });
  afterEach(() => f.close());

  const req = { orderRef: 'cart-1', lockerId: 'lk-a', size: 'M' as const };
  const held = async (lockerId = 'lk-a'): Promise<number> => Number((await f.store.x.one<{ n: number | string }>(heldAt, [lockerId]))?.n);

  it('stores the response byte for byte as JSON.stringify of the view it answered, and replays it', async () => {
    const first = await f.services.reservations.reserveGrouped('key-hold-0001', req);
    expect(first).toMatchObject({ statusCode: 201, replayed: false, body: { orderRef: 'cart-1', lockerId: 'lk-a', size: 'M', status: 'held', expiresAt: f.clock.now() + 15 * 60_000 } });
    expect((await f.store.x.one<{ response_json: string }>(storedResponse, ['key-hold-0001']))?.response_json).toBe(JSON.stringify(first.body));
    const again = await f.services.reservations.reserveGrouped('key-hold-0001', req);
    expect(again).toEqual({ ...first, replayed: true });
    expect(await f.services.reservations.get(first.body.id)).toEqual(first.body);
    expect(await held()).toBe(1);
    expect(await f.store.stateLog.list('reservation', first.body.id)).toEqual([{ entity: 'reservation', entityId: first.body.id, to: 'held', event: 'reserve', actor: 'checkout', at: f.clock.now() }]);
  });

  it('refuses the key with another body (422), through the same path, and books nothing more', async () => {
    await f.services.reservations.reserveGrouped('key-hold-0002', req);
    expect(await errorCode(f.services.reservations.reserveGrouped('key-hold-0002', { ...req, orderRef: 'cart-other' }))).toBe('IDEMPOTENCY_MISMATCH');
    expect(await held()).toBe(1);
  });

  it('says why when nothing is taken: no capacity, a closed locker, an unknown one; and records none of them', async () => {
    await f.services.reservations.reserveGrouped('key-hold-0003', req);
    await f.services.reservations.reserveGrouped('key-hold-0004', { ...req, orderRef: 'cart-2' });
    expect(await errorCode(f.services.reservations.reserveGrouped('key-hold-0005', { ...req, orderRef: 'cart-3' }))).toBe('NO_CAPACITY');
    expect(await errorCode(f.services.reservations.reserveGrouped('key-hold-0006', { ...req, lockerId: 'lk-nowhere' }))).toBe('NOT_FOUND');
    await f.store.x.run(sql(`UPDATE lockers SET status = 'out_of_service' WHERE id = 'lk-a'`));
    expect(await errorCode(f.services.reservations.reserveGrouped('key-hold-0007', { ...req, size: 'S' }))).toBe('BUSINESS_RULE');
    expect(await f.store.idempotency.get('reservation', 'key-hold-0005')).toBeUndefined();
  });

  it('takes a lapsed hold back when nothing else is free (the general path after the hold found none)', async () => {
    const a = (await f.services.reservations.reserveGrouped('key-hold-0008', req)).body;
    const b = (await f.services.reservations.reserveGrouped('key-hold-0009', { ...req, orderRef: 'cart-2' })).body;
    f.clock.advance(15 * 60_000);
    const late = await f.services.reservations.reserveGrouped('key-hold-0010', { ...req, orderRef: 'cart-3' });
    expect(late.body.status).toBe('held');
    expect([a.compartmentId, b.compartmentId]).toContain(late.body.compartmentId);
    // Both lapsed holds went back to the pool in that claim; the new one took one of them.
    expect((await f.store.reservations.get(a.id))?.status).toBe('expired');
    expect((await f.store.reservations.get(b.id))?.status).toBe('expired');
    expect(await held()).toBe(1);
  });

  it('gives the last compartments to exactly as many of 100 concurrent checkouts, each its own', async () => {
    await f.services.lockers.register(lockerInput('lk-last', 48.1, 11.5, { M: 3 }));
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => f.services.reservations.reserveGrouped(`key-last-${String(i).padStart(4, '0')}`, { orderRef: `c-${String(i)}`, lockerId: 'lk-last', size: 'M' }).catch((e: unknown) => e)),
    );
    const ok = results.filter((r): r is { body: { compartmentId: string } } => typeof r === 'object' && r !== null && 'body' in r);
    expect(ok).toHaveLength(3);
    expect(new Set(ok.map((r) => r.body.compartmentId)).size).toBe(3);
    expect(results.filter((r) => isBackendError(r, 'NO_CAPACITY'))).toHaveLength(97);
    expect(await held('lk-last')).toBe(3);
  });

  it('answers 10 concurrent requests under one key with one hold, the same body for all', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => f.services.reservations.reserveGrouped('key-hold-same', req)));
    expect(new Set(results.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(await held()).toBe(1);
  });
});
