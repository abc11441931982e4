import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SqliteExecutor } from '../store/sqlite/sqlite-executor.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';

describe('locker search', () => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend();
    // Berlin Alexanderplatz and neighbours, ~0.7 km, ~1.5 km and ~30 km away.
    await f.services.lockers.register(lockerInput('lk-near', 52.5219, 13.4132, { S: 2, M: 1 }));
    await f.services.lockers.register(lockerInput('lk-mid', 52.5163, 13.3777, { M: 3, XL: 1 }));
    await f.services.lockers.register(lockerInput('lk-far', 52.4, 13.06, { M: 5 }));
    await f.services.lockers.register(lockerInput('lk-closed', 52.5205, 13.41, { M: 5 }));
    await f.services.lockers.setStatus('lk-closed', 'out_of_service');
  });
  afterEach(() => f.close());

  it('returns operating lockers within the radius, nearest first, with availability per size', async () => {
    const hits = await f.services.lockers.search({ lat: 52.5219, lng: 13.4132, radiusM: 5000, limit: 10 });
    expect(hits.map((h) => h.lockerId)).toEqual(['lk-near', 'lk-mid']);
    expect(hits[0]).toMatchObject({ distanceM: 0, available: { S: 2, M: 1, L: 0, XL: 0 } });
    expect(hits[1]?.distanceM).toBeGreaterThan(2000);
  });

  it('filters by the size the parcel needs and counts held compartments as taken', async () => {
    expect((await f.services.lockers.search({ lat: 52.5219, lng: 13.4132, radiusM: 5000, size: 'XL', limit: 10 })).map((h) => h.lockerId)).toEqual(['lk-mid']);
    await f.services.reservations.reserve('hold-near-m1', { orderRef: 'c', lockerId: 'lk-near', size: 'M' });
    const m = await f.services.lockers.search({ lat: 52.5219, lng: 13.4132, radiusM: 5000, size: 'M', limit: 10 });
    expect(m.map((h) => h.lockerId)).toEqual(['lk-mid']);
  });

  it('answers from the R*Tree index on the embedded engine, not a scan of the lockers table', () => {
    const plan = (f.store.x as SqliteExecutor).db
      .prepare<[], { detail: string }>(
        `EXPLAIN QUERY PLAN SELECT l.id FROM locker_geo g JOIN lockers l ON l.rid = g.rid
          WHERE g.min_lat <= 1 AND g.max_lat >= 0 AND g.min_lng <= 1 AND g.max_lng >= 0`,
      )
      .all()
      .map((r) => r.detail)
      .join(' | ');
    expect(plan).toMatch(/VIRTUAL TABLE INDEX/);
    expect(plan).not.toMatch(/SCAN l\b/);
  });

  it('serves the search over HTTP with query validation', async () => {
    const app = await f.app();
    const res = await app.inject({ method: 'GET', url: '/lockers/search?lat=52.5219&lng=13.4132&radiusM=1000&size=S' });
    expect(res.statusCode).toBe(200);
    expect(res.json<{ results: Array<{ lockerId: string }> }>().results.map((r) => r.lockerId)).toEqual(['lk-near']);
  });
});
