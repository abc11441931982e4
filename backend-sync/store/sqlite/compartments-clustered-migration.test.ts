import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput } from '../../testing/backend-fixture.js';
import { SqlLockerRepository } from '../sql/locker-repository.js';
import { SqlReservationRepository } from '../sql/reservation-repository.js';
import { migrate, SQLITE_SCHEMA_VERSION } from './migrations.js';
import { SqliteExecutor } from './sqlite-executor.js';

// Migration 14: compartments rebuilt WITHOUT ROWID, clustered by (locker_id, id), and the
// separate state index gone (a hold changes one page instead of two). The rows, their
// states and holds survive, and a claim still takes the first free compartment of the size.

const T = 1_800_000_000_000;

describe('backend migration 14: compartments clustered by locker', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'compartments-clustered-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps every compartment with its state and hold, and claims by the clustered key', async () => {
    const db = new Database(join(dir, 'backend.sqlite'));
    db.pragma('foreign_keys = ON');
    migrate(db, 13);
    const x = new SqliteExecutor(db);
    const lockers = new SqlLockerRepository(x);
    expect(await lockers.insert(lockerInput('lk-a', 52.5, 13.4, { S: 1, M: 3 }), Buffer.alloc(32, 1), T)).toBe(true);
    expect(await lockers.insert(lockerInput('lk-b', 52.6, 13.5, { M: 2 }), Buffer.alloc(32, 2), T)).toBe(true);
    // Before the migration: M1 held by a reservation, M2 out of service.
    const reservations = new SqlReservationRepository(x);
    const held = await reservations.claim({ id: 'res_old', orderRef: 'cart-1', lockerId: 'lk-a', size: 'M', status: 'held', expiresAt: T + 60_000, now: T, offlineCutoff: 0 });
    expect(held?.compartmentId).toBe('M1');
    db.prepare(`UPDATE compartments SET state = 'out_of_service' WHERE locker_id = 'lk-a' AND id = 'M2'`).run();
    const before = db.prepare(`SELECT * FROM compartments ORDER BY locker_id, id`).all();

    migrate(db);
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    expect(db.prepare(`SELECT * FROM compartments ORDER BY locker_id, id`).all()).toEqual(before);
    const table = db.prepare(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'compartments'`).get() as { sql: string };
    expect(table.sql).toMatch(/WITHOUT ROWID/);
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'compartments' AND sql IS NOT NULL`).all()).toEqual([]);
    expect(db.pragma('foreign_key_check')).toEqual([]);

    // The claim skips the held and the out-of-service compartment, then finds none.
    expect((await reservations.claim({ id: 'res_new', orderRef: 'cart-2', lockerId: 'lk-a', size: 'M', status: 'held', expiresAt: T + 60_000, now: T, offlineCutoff: 0 }))?.compartmentId).toBe('M3');
    expect(await reservations.claim({ id: 'res_none', orderRef: 'cart-3', lockerId: 'lk-a', size: 'M', status: 'held', expiresAt: T + 60_000, now: T, offlineCutoff: 0 })).toBeUndefined();
    const detail = await lockers.detail('lk-a', T);
    expect(detail?.compartments.map((c) => [c.id, c.state])).toEqual([
      ['M1', 'held'],
      ['M2', 'out_of_service'],
      ['M3', 'held'],
      ['S1', 'free'],
    ]);
    // Another locker's rows were not touched.
    expect((await lockers.detail('lk-b', T))?.compartments.map((c) => c.state)).toEqual(['free', 'free']);
    await x.close();
  });
});
