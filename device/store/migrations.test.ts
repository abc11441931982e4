import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDeviceError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { DEVICE_DB_APPLICATION_ID, LATEST_SCHEMA_VERSION } from './migrations.js';
import { openDeviceStore } from './device-store.js';
import { FakeClock, LOCKER_ID, openTestStore, tempDir } from './store-test-fixtures.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}


/** Turns a current file back into what firmware with only migration 1 left on disk. */
function downgradeToVersion1(db: Database.Database): void {
  db.exec(`
    ALTER TABLE meta DROP COLUMN clock_confirmed; ALTER TABLE meta DROP COLUMN clock_signed_max;
    DROP TABLE db_identity; ALTER TABLE meta DROP COLUMN rejections_suppressed;
    DROP INDEX used_tokens_expiry; DROP INDEX revoked_tokens_expiry; DROP INDEX code_entries_prunable; DROP INDEX open_journal_finished;
    ALTER TABLE used_tokens DROP COLUMN expires_at; ALTER TABLE revoked_tokens DROP COLUMN expires_at;
    DROP INDEX code_entries_keypad_state; DROP INDEX code_entries_live_staged; DROP INDEX code_entries_staged; ALTER TABLE code_entries DROP COLUMN staged_version;`);
  db.pragma('user_version = 1');
}

describe('migrations', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  it('creates the schema on a new file and records the version and application id', () => {
    const store = openTestStore(join(dir, 'a.db'));
    expect(store.database.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    expect(store.database.pragma('application_id', { simple: true })).toBe(DEVICE_DB_APPLICATION_ID);
    expect(store.codeSetState()).toEqual({ version: 0, digest: '0'.repeat(64) });
    store.close();
  });

  it('reopens an existing file without migrating it again', () => {
    const path = join(dir, 'a.db');
    openTestStore(path).close();
    const store = openTestStore(path);
    expect(store.database.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    store.close();
  });

  it('gives a new database a random epoch that stays with the file', () => {
    const a = openTestStore(join(dir, 'a.db'));
    const epochA = a.dbEpoch;
    a.close();
    expect(epochA).toMatch(/^[0-9a-f]{32}$/);
    const reopened = openTestStore(join(dir, 'a.db'));
    expect(reopened.dbEpoch).toBe(epochA);
    reopened.close();
    // The fresh database an operator starts after moving the old one aside: another epoch.
    const fresh = openTestStore(join(dir, 'b.db'));
    expect(fresh.dbEpoch).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.dbEpoch).not.toBe(epochA);
    fresh.close();
  });

  it('gives a version-1 database an epoch when it is upgraded, keeping its data', () => {
    const path = join(dir, 'a.db');
    const store = openTestStore(path);
    store.appendAudit('door.uncommanded-open', 'normal', { compartmentId: 'A01' });
    store.close();
    // Turn the file back into what version 1 left on disk.
    const db = new Database(path);
    downgradeToVersion1(db);
    db.close();
    const upgraded = openTestStore(path);
    expect(upgraded.database.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    expect(upgraded.dbEpoch).toMatch(/^[0-9a-f]{32}$/);
    expect(upgraded.auditHighWatermark()).toBe(1);
    upgraded.close();
  });

  it('upgrades a version-1 file: token expiry columns added, converted to incremental auto-vacuum, data kept', () => {
    const path = join(dir, 'a.db');
    const first = openTestStore(path);
    first.markTokenUsed('spent-before-upgrade-01', 'pickup', 1);
    first.close();
    // Back to what firmware with only migration 1 left on disk.
    const db = new Database(path);
    downgradeToVersion1(db);
    db.pragma('auto_vacuum = NONE');
    db.exec('VACUUM');
    expect(db.pragma('auto_vacuum', { simple: true })).toBe(0);
    db.close();

    const store = openTestStore(path);
    expect(store.database.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    expect(store.database.pragma('auto_vacuum', { simple: true })).toBe(2);
    expect(store.isTokenUsed('spent-before-upgrade-01')).toBe(true);
    store.markTokenUsed('spent-after-upgrade-001', 'pickup', 2, 3);
    expect(store.database.prepare('SELECT token_id, expires_at FROM used_tokens ORDER BY token_id').all()).toEqual([
      { token_id: 'spent-after-upgrade-001', expires_at: 3 },
      { token_id: 'spent-before-upgrade-01', expires_at: null },
    ]);
    store.close();
  });

  it('refuses a database newer than the firmware with DB_MIGRATION', () => {
    const path = join(dir, 'a.db');
    openTestStore(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    expect(isDeviceError(caught(() => openTestStore(path)), 'DB_MIGRATION')).toBe(true);
  });

  it('refuses the database of another locker with DB_LOCKER_MISMATCH', () => {
    const path = join(dir, 'a.db');
    openTestStore(path).close();
    const err = caught(() => openDeviceStore({ path, lockerId: 'another-locker', logger: silentLogger(), now: () => new FakeClock().now() }));
    expect(isDeviceError(err, 'DB_LOCKER_MISMATCH')).toBe(true);
    // The rightful locker still opens it.
    const store = openDeviceStore({ path, lockerId: LOCKER_ID, logger: silentLogger(), now: () => new FakeClock().now() });
    store.close();
  });
});
