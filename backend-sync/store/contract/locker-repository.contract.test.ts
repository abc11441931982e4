import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { haversineM } from '../../lockers/geo.js';
import type { CompartmentSize } from '../../shared/contract.js';
import type { LockerInput } from '../../lockers/locker-schemas.js';
import { isBackendError } from '../../shared/errors.js';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { nearbyCandidates, SqlLockerRepository } from '../sql/locker-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { pgValues, sql, sqlPer } from '../sql/sql-text.js';

// The locker registry's contract, on every engine: insert-if-absent with its compartments
// (and, on SQLite, its R*Tree row), keyset pages, conditional compartment changes, presence,
// the nearby search (distance, availability, lazy release, offline cutoff) checked against
// brute force over 10,000 lockers, its plan starting from the spatial index, and refusal of
// a corrupt JSON column.

const dir = mkdtempSync(join(tmpdir(), 'locker-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('locker repository contract');
const T = 1_800_000_000_000;
const CENTER = { lat: 52.5, lng: 13.4 };
// Metres to degrees of latitude (north) at this latitude.
const north = (m: number): number => m / 111_195;

function locker(id: string, lat: number, lng: number, sizes: Partial<Record<CompartmentSize, number>> = { S: 1, M: 2 }): LockerInput {
  const compartments: LockerInput['compartments'] = [];
  for (const [size, n] of Object.entries(sizes) as Array<[CompartmentSize, number]>) {
    for (let i = 1; i <= n; i++) compartments.push({ id: `${size}${String(i)}`, size, dimensions: { widthMm: 400, heightMm: 100 * i, depthMm: 600 } });
  }
  return {
    id,
    name: `Locker ${id}`,
    location: { lat, lng },
    address: { street: 'Hauptstr. 1', city: 'Berlin', postalCode: '10115', country: 'DE' },
    openingHours: { mon: [{ open: '08:00', close: '20:00' }], sun: [{ open: '00:00', close: '24:00' }] },
    status: 'operating',
    compartments,
  };
}

describe.each(engines)('LockerRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlLockerRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlLockerRepository(x);
  });
  afterEach(() => dispose());

  const search = (over: Partial<Parameters<SqlLockerRepository['search']>[0]> = {}) =>
    repo.search({ ...CENTER, radiusM: 2_000, limit: 20, now: T, offlineCutoff: T - 60_000, ...over });

  it('inserts a locker once, with its compartments, and reads its JSON back unchanged', async () => {
    const input = locker('lk-a', 52.5, 13.4, { S: 2, XL: 1 });
    expect(await repo.insert(input, Buffer.alloc(32, 7), T)).toBe(true);
    expect(await repo.insert({ ...input, name: 'Other' }, Buffer.alloc(32, 9), T + 1)).toBe(false);

    const got = await repo.get('lk-a');
    expect(got).toEqual({ id: 'lk-a', name: 'Locker lk-a', location: { lat: 52.5, lng: 13.4 }, address: input.address, openingHours: input.openingHours, status: 'operating', online: false, createdAt: T });
    expect(await repo.pepper('lk-a')).toEqual(Buffer.alloc(32, 7));
    const detail = await repo.detail('lk-a', T);
    expect(detail?.compartments).toEqual([
      { id: 'S1', size: 'S', dimensions: { widthMm: 400, heightMm: 100, depthMm: 600 }, state: 'free' },
      { id: 'S2', size: 'S', dimensions: { widthMm: 400, heightMm: 200, depthMm: 600 }, state: 'free' },
      { id: 'XL1', size: 'XL', dimensions: { widthMm: 400, heightMm: 100, depthMm: 600 }, state: 'free' },
    ]);
    expect(await repo.get('nope')).toBeUndefined();
    expect(await repo.detail('nope', T)).toBeUndefined();
    expect(await repo.pepper('nope')).toBeUndefined();
  });

  it('a failed compartment insert leaves no locker behind', async () => {
    const input = locker('lk-dup', 52.5, 13.4);
    const bad = { ...input, compartments: [...input.compartments, input.compartments[0]!] };
    await expect(repo.insert(bad, Buffer.alloc(32), T)).rejects.toThrow(/unique|UNIQUE|duplicate/);
    expect(await repo.get('lk-dup')).toBeUndefined();
    expect(await repo.insert(input, Buffer.alloc(32), T)).toBe(true);
  });

  it('pages the registry in id order, optionally by status', async () => {
    for (const id of ['lk-c', 'lk-a', 'lk-e', 'lk-b', 'lk-d']) await repo.insert(locker(id, 52.5, 13.4), Buffer.alloc(32), T);
    await repo.setStatus('lk-b', 'out_of_service');
    await repo.setStatus('lk-d', 'out_of_service');
    expect(await repo.ids()).toEqual(['lk-a', 'lk-b', 'lk-c', 'lk-d', 'lk-e']);
    expect((await repo.list({ limit: 2 })).map((l) => l.id)).toEqual(['lk-a', 'lk-b']);
    expect((await repo.list({ afterId: 'lk-b', limit: 2 })).map((l) => l.id)).toEqual(['lk-c', 'lk-d']);
    expect((await repo.list({ afterId: 'lk-d', limit: 2 })).map((l) => l.id)).toEqual(['lk-e']);
    expect((await repo.list({ status: 'out_of_service', limit: 10 })).map((l) => l.id)).toEqual(['lk-b', 'lk-d']);
    expect((await repo.list({ status: 'operating', afterId: 'lk-a', limit: 10 })).map((l) => l.id)).toEqual(['lk-c', 'lk-e']);
  });

  it('reads the claim gate and changes status only for a known locker', async () => {
    await repo.insert(locker('lk-a', 52.5, 13.4), Buffer.alloc(32), T);
    expect(await repo.gate('lk-a')).toEqual({ status: 'operating', offlineSince: null });
    expect(await repo.setStatus('lk-a', 'offline')).toBe(true);
    expect(await repo.setStatus('ghost', 'offline')).toBe(false);
    expect(await repo.gate('lk-a')).toEqual({ status: 'offline', offlineSince: null });
    expect(await repo.gate('ghost')).toBeUndefined();
  });

  it('presence: offline since the first offline report, cleared when back online', async () => {
    await repo.insert(locker('lk-a', 52.5, 13.4), Buffer.alloc(32), T);
    await repo.setPresence('lk-a', true, T + 1, '{"v":1}');
    expect(await repo.get('lk-a')).toMatchObject({ online: true });
    expect((await repo.get('lk-a'))?.offlineSince).toBeUndefined();
    await repo.setPresence('lk-a', false, T + 10, undefined);
    await repo.setPresence('lk-a', false, T + 20, undefined);
    expect(await repo.gate('lk-a')).toEqual({ status: 'operating', offlineSince: T + 10 });
    expect(await repo.get('lk-a')).toMatchObject({ online: false, offlineSince: T + 10 });
    await repo.setPresence('lk-a', true, T + 30, undefined);
    expect(await repo.gate('lk-a')).toEqual({ status: 'operating', offlineSince: null });
    // The last presence document is kept when a report carries none.
    expect(await x.one(sql('SELECT presence_json FROM lockers WHERE id = ?'), ['lk-a'])).toEqual({ presence_json: '{"v":1}' });
  });

  it('changes a compartment only from the listed states, the second time not at all', async () => {
    await repo.insert(locker('lk-a', 52.5, 13.4), Buffer.alloc(32), T);
    expect(await repo.setCompartmentState('lk-a', 'M1', ['free'], 'reserved', 'res-1')).toBe(true);
    expect(await repo.setCompartmentState('lk-a', 'M1', ['free'], 'reserved', 'res-2')).toBe(false);
    expect(await repo.compartment('lk-a', 'M1')).toEqual({ id: 'M1', size: 'M', dimensions: { widthMm: 400, heightMm: 100, depthMm: 600 }, state: 'reserved', reservationId: 'res-1' });
    // Without a reservation argument the reservation stays; with null it is cleared.
    expect(await repo.setCompartmentState('lk-a', 'M1', ['held', 'reserved', 'reserved'], 'occupied')).toBe(true);
    expect(await repo.compartment('lk-a', 'M1')).toMatchObject({ state: 'occupied', reservationId: 'res-1' });
    expect(await repo.setCompartmentState('lk-a', 'M1', ['free', 'held', 'reserved', 'out_of_service'], 'free', null)).toBe(false);
    expect(await repo.setCompartmentState('lk-a', 'M1', ['occupied'], 'free', null)).toBe(true);
    expect(await repo.compartment('lk-a', 'M1')).toEqual({ id: 'M1', size: 'M', dimensions: { widthMm: 400, heightMm: 100, depthMm: 600 }, state: 'free' });
    expect(await repo.setCompartmentState('lk-a', 'M1', [], 'occupied')).toBe(false);
    expect(await repo.setCompartmentState('lk-a', 'ZZ', ['free'], 'occupied')).toBe(false);
    expect(await repo.compartment('lk-a', 'ZZ')).toBeUndefined();
  });

  it('finds lockers within the radius, nearest first, with what is free per size', async () => {
    await repo.insert(locker('near', CENTER.lat + north(100), CENTER.lng), Buffer.alloc(32), T);
    await repo.insert(locker('mid', CENTER.lat - north(1_500), CENTER.lng, { L: 1 }), Buffer.alloc(32), T);
    await repo.insert(locker('far', CENTER.lat + north(5_000), CENTER.lng), Buffer.alloc(32), T);
    // Inside the bounding box's corner but outside the circle: the distance decides.
    await repo.insert(locker('corner', CENTER.lat + north(1_800), CENTER.lng + 0.026), Buffer.alloc(32), T);
    const hits = await search();
    expect(hits.map((h) => [h.lockerId, h.distanceM])).toEqual([
      ['near', 100],
      ['mid', 1_500],
    ]);
    expect(hits[0]).toEqual({
      lockerId: 'near',
      name: 'Locker near',
      location: { lat: CENTER.lat + north(100), lng: CENTER.lng },
      address: { street: 'Hauptstr. 1', city: 'Berlin', postalCode: '10115', country: 'DE' },
      distanceM: 100,
      available: { S: 1, M: 2, L: 0, XL: 0 },
    });
    expect((await search({ size: 'L' })).map((h) => h.lockerId)).toEqual(['mid']);
    expect((await search({ limit: 1 })).map((h) => h.lockerId)).toEqual(['near']);
    expect((await search({ radiusM: 50 })).map((h) => h.lockerId)).toEqual([]);
  });

  it('counts a lapsed hold as free, a live hold or reservation not, and skips lockers not in service', async () => {
    await repo.insert(locker('a', CENTER.lat, CENTER.lng, { M: 3 }), Buffer.alloc(32), T);
    await repo.insert(locker('b', CENTER.lat + north(200), CENTER.lng), Buffer.alloc(32), T);
    await repo.insert(locker('c', CENTER.lat + north(300), CENTER.lng), Buffer.alloc(32), T);
    await repo.insert(locker('d', CENTER.lat + north(400), CENTER.lng), Buffer.alloc(32), T);
    const hold = sql("UPDATE compartments SET state = 'held', reservation_id = ?, hold_expires_at = ? WHERE locker_id = ? AND id = ?");
    await x.run(hold, ['r1', T + 1, 'a', 'M1']);
    await x.run(hold, ['r2', T, 'a', 'M2']);
    await repo.setCompartmentState('a', 'M3', ['free'], 'reserved', 'r3');
    await repo.setStatus('b', 'out_of_service');
    await repo.setPresence('c', false, T - 120_000, undefined);
    await repo.setPresence('d', false, T - 1_000, undefined);
    const hits = await search();
    expect(hits.map((h) => [h.lockerId, h.available.M])).toEqual([
      ['a', 1],
      ['d', 2],
    ]);
    // With every M taken, a size filter drops the locker.
    await repo.setCompartmentState('a', 'M2', ['held'], 'occupied');
    expect((await search({ size: 'M' })).map((h) => h.lockerId)).toEqual(['d']);
    expect((await repo.detail('a', T))?.compartments.map((c) => c.state)).toEqual(['held', 'occupied', 'reserved']);
    expect((await repo.detail('a', T + 1))?.compartments.map((c) => c.state)).toEqual(['free', 'occupied', 'reserved']);
  });

  it('refuses a locker row whose JSON does not match its schema, naming the row', async () => {
    await x.run(
      sql(`INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
           VALUES ('bad', 'B', 52.5, 13.4, '{"street":1}', '{}', 'operating', ?, ?)`),
      [Buffer.alloc(32), T],
    );
    const err = await repo.get('bad').catch((e: unknown) => e);
    expect(isBackendError(err, 'INTERNAL')).toBe(true);
    expect((err as Error).message).toMatch(/corrupt row in lockers \(id=bad\): address_json/);
    await x.run(sql(`UPDATE lockers SET address_json = '{"street":"s","city":"c","postalCode":"1","country":"DE"}', opening_hours_json = 'not json' WHERE id = 'bad'`));
    await expect(repo.list({ limit: 10 })).rejects.toThrow(/lockers \(id=bad\): opening_hours_json/);
  });
});

// The three tests over the large estate only read it (searches and query plans), so it is
// seeded once per engine rather than before each of them (that took ~4 s a test on
// PostgreSQL). Same names as under the describe above.
describe.each(engines)('LockerRepository on %s', (engine) => {
  describe('over 10,000 lockers and 200,000 compartments', () => {
    let x: SqlExecutor;
    let dispose: () => Promise<void>;
    let repo: SqlLockerRepository;

    // Seeded in SQL (fast); coordinates spread over a Berlin-sized area like the bench.
    const seed = sqlPer({
      sqlite: `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
        INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
        SELECT 'seed-' || i, 'S', 52.3 + ((i * 7919) % 10007) / 10007.0 * 0.4, 13.0 + ((i * 104729) % 9973) / 9973.0 * 0.8,
               '{"street":"s","city":"c","postalCode":"1","country":"DE"}', '{}', 'operating', x'00', 0 FROM n`,
      postgres: `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
        SELECT 'seed-' || i, 'S', 52.3 + ((i * 7919) % 10007) / 10007.0 * 0.4, 13.0 + ((i * 104729) % 9973) / 9973.0 * 0.8,
               '{"street":"s","city":"c","postalCode":"1","country":"DE"}', '{}', 'operating', '\\x00'::bytea, 0 FROM generate_series(1, 10000) i`,
    });
    const seedGeo = sql('INSERT INTO locker_geo (rid, min_lat, max_lat, min_lng, max_lng) SELECT rid, lat, lat, lng, lng FROM lockers');
    const seedCompartments = sqlPer({
      sqlite: `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 19)
        INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state)
        SELECT l.id, 'C' || n.i, CASE n.i % 4 WHEN 0 THEN 'S' WHEN 1 THEN 'M' WHEN 2 THEN 'L' ELSE 'XL' END, 1, 1, 1, 'free' FROM lockers l, n`,
      postgres: `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state)
        SELECT l.id, 'C' || n, (ARRAY['S', 'M', 'L', 'XL'])[1 + n % 4], 1, 1, 1, 'free' FROM lockers l, generate_series(0, 19) n`,
    });

    beforeAll(async () => {
      ({ x, dispose } = await openTestExecutor(engine, dir));
      repo = new SqlLockerRepository(x);
      await x.transaction(async () => {
        await x.run(seed);
        if (engine === 'sqlite') await x.run(seedGeo);
        await x.run(seedCompartments);
      });
      if (engine === 'postgres') await x.run(sql('ANALYZE'));
    });
    afterAll(() => dispose());

    it('returns exactly what brute force over every locker returns', async () => {
      const all = await x.all<{ id: string; lat: number; lng: number }>(sql('SELECT id, lat, lng FROM lockers'));
      expect(all).toHaveLength(10_000);
      let seen = 0;
      for (let q = 0; q < 20; q++) {
        const lat = 52.3 + ((q * 37) % 20) / 50;
        const lng = 13.0 + ((q * 53) % 20) / 25;
        const expected = all
          .map((l) => ({ id: l.id, d: Math.round(haversineM(lat, lng, l.lat, l.lng)) }))
          .filter((l) => l.d <= 2_000)
          .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1));
        const hits = await repo.search({ lat, lng, radiusM: 2_000, limit: 100, now: T, offlineCutoff: T - 60_000 });
        expect(hits.map((h) => [h.lockerId, h.distanceM])).toEqual(expected.map((e) => [e.id, e.d]));
        for (const h of hits) expect(h.available).toEqual({ S: 5, M: 5, L: 5, XL: 5 });
        seen += hits.length;
      }
      expect(seen).toBeGreaterThan(200);
    });

    it('a wide search returns the nearest hits, exactly as brute force does, however far it has to look', async () => {
      const all = await x.all<{ id: string; lat: number; lng: number }>(sql('SELECT id, lat, lng FROM lockers'));
      // Inside the estate (the first circle suffices), at its edge and beyond it (the circle
      // widens), and far away (nothing within 50 km).
      const points = [
        [52.5, 13.4],
        [52.31, 13.02],
        [52.2, 12.9],
        [52.0, 13.4],
        [53.5, 13.4],
      ] as const;
      for (const [lat, lng] of points) {
        for (const limit of [1, 5, 100]) {
          const expected = all
            .map((l) => ({ id: l.id, d: Math.round(haversineM(lat, lng, l.lat, l.lng)) }))
            .filter((l) => l.d <= 50_000)
            .sort((a, b) => a.d - b.d || (a.id < b.id ? -1 : 1))
            .slice(0, limit);
          const hits = await repo.search({ lat, lng, radiusM: 50_000, limit, now: T, offlineCutoff: T - 60_000 });
          expect(hits.map((h) => [h.lockerId, h.distanceM]), `${String(lat)},${String(lng)} limit ${String(limit)}`).toEqual(expected.map((e) => [e.id, e.d]));
        }
      }
    });

    it('starts from the spatial index, not a scan of all lockers', async () => {
      const params = { minLat: 52.48, maxLat: 52.52, minLng: 13.37, maxLng: 13.43, now: T, offlineCutoff: T - 60_000 };
      if (engine === 'postgres') {
        const c = nearbyCandidates.compile('postgres');
        const [row] = await x.all<{ 'QUERY PLAN': unknown }>(sql(`EXPLAIN (FORMAT JSON) ${c.text}`), pgValues(c, params));
        const plan = JSON.stringify(row?.['QUERY PLAN']);
        expect(plan).toContain('"Index Name":"lockers_geo"');
        expect(plan).not.toMatch(/"Node Type":"Seq Scan"/);
      } else {
        const plan = await x.all<{ detail: string }>(sql(`EXPLAIN QUERY PLAN ${nearbyCandidates.compile('sqlite').text}`), params);
        expect(plan[0]?.detail).toMatch(/^SCAN g VIRTUAL TABLE INDEX/);
        expect(plan.map((p) => p.detail).join('\n')).not.toMatch(/SCAN l\b/);
      }
    });
  });
});
