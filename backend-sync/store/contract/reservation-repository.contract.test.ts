import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { SqlReservationRepository } from '../sql/reservation-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The reservation repository's contract, on every engine: the conditional claim, lazy
// release of lapsed holds, and the database's own refusal of a second live reservation
// on one compartment.

const dir = mkdtempSync(join(tmpdir(), 'res-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('reservation repository contract');
const T = 1_800_000_000_000;

const addLocker = sql(
  `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
   VALUES (@id, 'L', 52.5, 13.4, '{}', '{}', 'operating', @pepper, @at)`,
);
const addCompartment = sql(
  `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state) VALUES (?, ?, 'M', 400, 200, 600, 'free')`,
);

describe.each(engines)('ReservationRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlReservationRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlReservationRepository(x);
    await x.run(addLocker, { id: 'lk', pepper: Buffer.alloc(32, 1), at: T });
    for (let i = 0; i < 10; i++) await x.run(addCompartment, ['lk', `M${String(i).padStart(2, '0')}`]);
  });
  afterEach(() => dispose());

  const claim = (id: string, expiresAt = T + 60_000) =>
    repo.claim({ id, orderRef: `o-${id}`, lockerId: 'lk', size: 'M', status: 'held', expiresAt, now: T, offlineCutoff: T - 1 });

  it('claims each free compartment once, then reports none free', async () => {
    const got = [];
    for (let i = 0; i < 11; i++) got.push(await claim(`r${String(i)}`));
    expect(got.slice(0, 10).map((r) => r?.compartmentId)).toEqual(Array.from({ length: 10 }, (_, i) => `M${String(i).padStart(2, '0')}`));
    expect(got[10]).toBeUndefined();
    expect((await repo.get('r3'))?.status).toBe('held');
  });

  it('1,000 concurrent claims for 10 compartments: exactly 10 succeed, each on its own compartment', async () => {
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => x.transaction(() => claim(`c${String(i)}`)).catch((err: unknown) => err)),
    );
    const ok = results.filter((r): r is { compartmentId: string } => typeof r === 'object' && r !== null && 'compartmentId' in r);
    expect(ok).toHaveLength(10);
    expect(new Set(ok.map((r) => r.compartmentId)).size).toBe(10);
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
  });

  // The checkout reads the locker only after a claim took nothing (to say why), so the
  // claim itself must refuse a locker that is not operating or has been offline too long.
  it('takes nothing at a locker that is not operating, or offline since before the cutoff, and inserts no reservation', async () => {
    await x.run(sql(`UPDATE lockers SET status = 'out_of_service' WHERE id = 'lk'`));
    expect(await claim('closed')).toBeUndefined();
    await x.run(sql(`UPDATE lockers SET status = 'operating', offline_since = ? WHERE id = 'lk'`), [T - 2]);
    expect(await claim('gone')).toBeUndefined();
    await x.run(sql(`UPDATE lockers SET offline_since = ? WHERE id = 'lk'`), [T]);
    expect((await claim('within-grace'))?.compartmentId).toBe('M00');
    expect(await repo.get('closed')).toBeUndefined();
    expect(await repo.get('gone')).toBeUndefined();
    expect((await x.one<{ n: number }>(sql(`SELECT count(*) AS n FROM compartments WHERE state = 'held'`)))?.n).toBe(1);
  });

  it('a lapsed hold goes back to the pool when nothing else is free', async () => {
    for (let i = 0; i < 10; i++) await claim(`h${String(i)}`, T + (i === 4 ? -1 : 60_000));
    const again = await claim('late');
    expect(again?.compartmentId).toBe('M04');
    expect((await repo.get('h4'))?.status).toBe('expired');
  });

  it('the database refuses a second live reservation on one compartment', async () => {
    await claim('first');
    const dup = sql(
      `INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, created_at, updated_at)
       VALUES ('forged', 'o', 'lk', 'M', 'M00', 'held', ?, ?, ?)`,
    );
    await expect(x.run(dup, [T + 1, T, T])).rejects.toThrow(/unique|UNIQUE/);
    expect(await repo.release('first', 'released', T)).toBe(true);
    await expect(x.run(dup, [T + 1, T, T])).resolves.toBe(1);
  });

  it('release is conditional: the second one changes nothing', async () => {
    await claim('once');
    expect(await repo.release('once', 'released', T)).toBe(true);
    expect(await repo.release('once', 'expired', T)).toBe(false);
    expect((await repo.get('once'))?.status).toBe('released');
  });

  it('a nested transaction that throws undoes only its own part', async () => {
    await x.transaction(async () => {
      await claim('outer');
      await x.transaction(async () => {
        await claim('inner');
        throw new Error('inner fails');
      }).catch(() => undefined);
    });
    expect(await repo.get('outer')).toBeDefined();
    expect(await repo.get('inner')).toBeUndefined();
  });
});
