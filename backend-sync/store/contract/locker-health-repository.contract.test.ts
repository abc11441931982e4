import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceHealthWire } from '../../shared/contract.js';
import { isBackendError } from '../../shared/errors.js';
import { openTestExecutor } from '../../testing/test-executor.js';
import { testEngines } from '../../testing/pg-test-db.js';
import type { LockerHealthRecord } from '../records.js';
import { SqlLockerHealthRepository } from '../sql/locker-health-repository.js';
import type { SqlExecutor } from '../sql/sql-executor.js';
import { sql } from '../sql/sql-text.js';

// The locker health repository's contract, on every engine: one row per locker, replaced by
// each report, JSON read back through the contract schema (optional fields absent stay
// absent), and a corrupt row refused with the table and locker named.

const dir = mkdtempSync(join(tmpdir(), 'health-contract-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('locker health repository contract');
const T = 1_800_000_000_000;

const addLocker = sql(
  `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
   VALUES (?, 'L', 52.5, 13.4, '{}', '{}', 'operating', ?, ?)`,
);

const health: DeviceHealthWire = {
  compartments: [
    { id: 'M1', status: 'ok', door: 'closed' },
    { id: 'M2', status: 'out-of-service', door: 'unknown' },
  ],
  lockout: { active: true, until: T + 60_000.5, failures: 5 },
  liveCodes: 12,
  auditBacklog: 0,
  clockFloor: T - 0.25,
  codeSetVersion: 7,
  rejectedMessages: { 'bad-signature': 2 },
  doorFailures: { jammed: 1, 'relay-fault': 0, 'sensor-unknown': 3 },
};

describe.each(engines)('LockerHealthRepository on %s', (engine) => {
  let x: SqlExecutor;
  let dispose: () => Promise<void>;
  let repo: SqlLockerHealthRepository;

  beforeEach(async () => {
    ({ x, dispose } = await openTestExecutor(engine, dir));
    repo = new SqlLockerHealthRepository(x);
    for (const id of ['lk-a', 'lk-b']) await x.run(addLocker, [id, Buffer.alloc(32), T]);
  });
  afterEach(() => dispose());

  it('stores the latest report per locker and reads it back unchanged', async () => {
    expect(await repo.get('lk-a')).toBeUndefined();
    const first: LockerHealthRecord = { lockerId: 'lk-a', bootId: 'boot-1', sentAt: T + 0.5, receivedAt: T + 3, health, episodes: { outOfService: { M2: T + 3 }, lockoutSince: T + 3 } };
    await repo.put(first);
    expect(await repo.get('lk-a')).toEqual(first);
    expect(await repo.get('lk-b')).toBeUndefined();

    const minimal: DeviceHealthWire = { compartments: [], lockout: { active: false, failures: 0 }, liveCodes: 0, auditBacklog: 2, clockFloor: T };
    await repo.put({ lockerId: 'lk-a', bootId: 'boot-2', sentAt: T + 10, receivedAt: T + 11, health: minimal, episodes: { outOfService: {} } });
    const second = await repo.get('lk-a');
    expect(second).toEqual({ lockerId: 'lk-a', bootId: 'boot-2', sentAt: T + 10, receivedAt: T + 11, health: minimal, episodes: { outOfService: {} } });
    // Absent optional fields stay absent rather than coming back as undefined keys.
    expect(Object.keys(second?.episodes ?? {})).toEqual(['outOfService']);
    expect(Object.keys(second?.health.lockout ?? {}).sort()).toEqual(['active', 'failures']);
    expect(await x.one(sql('SELECT count(*) AS n FROM locker_health'))).toEqual({ n: 1 });
  });

  it('pages the reports in locker id order, each page after the last id of the one before', async () => {
    await x.run(addLocker, ['lk-c', Buffer.alloc(32), T]);
    for (const id of ['lk-c', 'lk-a', 'lk-b']) await repo.put({ lockerId: id, bootId: 'boot-1', sentAt: T, receivedAt: T, health, episodes: { outOfService: {} } });
    const first = await repo.page('', 2);
    expect(first.map((r) => r.lockerId)).toEqual(['lk-a', 'lk-b']);
    expect(first[0]?.health).toEqual(health);
    expect((await repo.page('lk-b', 2)).map((r) => r.lockerId)).toEqual(['lk-c']);
    expect(await repo.page('lk-c', 2)).toEqual([]);
  });

  it('refuses a row for a locker that does not exist', async () => {
    await expect(repo.put({ lockerId: 'ghost', bootId: 'b', sentAt: T, receivedAt: T, health, episodes: { outOfService: {} } })).rejects.toThrow(/foreign key|FOREIGN KEY/);
  });

  it('refuses a row whose health or episodes JSON does not match its schema, naming the locker', async () => {
    await repo.put({ lockerId: 'lk-a', bootId: 'b', sentAt: T, receivedAt: T, health, episodes: { outOfService: {} } });
    await x.run(sql(`UPDATE locker_health SET health_json = '{"compartments":[]}' WHERE locker_id = 'lk-a'`));
    const err = await repo.get('lk-a').catch((e: unknown) => e);
    expect(isBackendError(err, 'INTERNAL')).toBe(true);
    expect((err as Error).message).toMatch(/corrupt row in locker_health \(locker_id=lk-a\): health_json/);

    await repo.put({ lockerId: 'lk-b', bootId: 'b', sentAt: T, receivedAt: T, health, episodes: { outOfService: {} } });
    await x.run(sql(`UPDATE locker_health SET episodes_json = '{"outOfService":{"M1":"yesterday"}}' WHERE locker_id = 'lk-b'`));
    await expect(repo.get('lk-b')).rejects.toThrow(/locker_health \(locker_id=lk-b\): episodes_json/);
    await x.run(sql(`UPDATE locker_health SET episodes_json = '{"outOfService":' WHERE locker_id = 'lk-b'`));
    await expect(repo.get('lk-b')).rejects.toThrow(/locker_health \(locker_id=lk-b\): episodes_json/);
  });
});
