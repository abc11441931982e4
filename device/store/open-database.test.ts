import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isDeviceError, type DeviceErrorCode } from '../errors.js';
import { silentLogger } from '../logger.js';
import { closeDatabase, openDatabase } from './open-database.js';
import { pino } from 'pino';
import { makeBatch, makeEntries, openTestStore, tempDir } from './store-test-fixtures.js';

function expectOpenFails(path: string, code: DeviceErrorCode): void {
  let caught: unknown;
  try {
    openTestStore(path).close();
  } catch (err) {
    caught = err;
  }
  expect(isDeviceError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}

describe('openDatabase', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempDir()));
  afterEach(() => cleanup());

  it('opens in WAL mode with synchronous=FULL and foreign keys on', () => {
    const db = openDatabase({ path: join(dir, 'a.db'), logger: silentLogger() });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    db.close();
  });

  it("bounds SQLite's page cache to 4 MiB instead of better-sqlite3's 16 MB default, which the integrity check would fill", () => {
    const db = openDatabase({ path: join(dir, 'cache.db'), logger: silentLogger() });
    expect(db.pragma('cache_size', { simple: true })).toBe(-4096);
    db.close();
    const small = openDatabase({ path: join(dir, 'cache.db'), logger: silentLogger(), cacheSizeKib: 1024 });
    expect(small.pragma('cache_size', { simple: true })).toBe(-1024);
    small.close();
  });

  it('fails closed with DB_CORRUPT on a file of garbage bytes', () => {
    const path = join(dir, 'garbage.db');
    writeFileSync(path, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) % 251)));
    expectOpenFails(path, 'DB_CORRUPT');
  });

  it('fails closed with DB_CORRUPT on a truncated database', () => {
    const good = join(dir, 'good.db');
    const store = openTestStore(good);
    store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 3000) }));
    store.database.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    const path = join(dir, 'truncated.db');
    copyFileSync(good, path);
    truncateSync(path, Math.floor(statSync(path).size / 2));
    expectOpenFails(path, 'DB_CORRUPT');
  });

  it('fails closed with DB_CORRUPT on a database whose pages were overwritten', () => {
    const path = join(dir, 'damaged.db');
    const store = openTestStore(path);
    store.applyCodeBatch(makeBatch({ upserts: makeEntries(0, 3000) }));
    store.database.pragma('wal_checkpoint(TRUNCATE)');
    store.close();
    const bytes = readFileSync(path);
    bytes.fill(0x5a, 4096 * 3, 4096 * 6);
    writeFileSync(path, bytes);
    expectOpenFails(path, 'DB_CORRUPT');
  });

  it('refuses a valid SQLite database of another application', () => {
    const path = join(dir, 'other-app.db');
    const other = new Database(path);
    other.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES (1)');
    other.close();
    expectOpenFails(path, 'DB_CORRUPT');
  });

  it('fails with DB_UNREADABLE when the path is a directory', () => {
    const path = join(dir, 'a-directory');
    mkdirSync(path);
    expectOpenFails(path, 'DB_UNREADABLE');
  });

  it('fails with DB_UNREADABLE when the parent directory does not exist', () => {
    expectOpenFails(join(dir, 'missing', 'x.db'), 'DB_UNREADABLE');
  });

  it('fails with DB_UNREADABLE when create is off and the file is missing', () => {
    expect(() => openDatabase({ path: join(dir, 'none.db'), logger: silentLogger(), create: false })).toThrow(/does not exist/);
  });

  it('fails with DB_UNREADABLE when the file has no permissions', () => {
    const path = join(dir, 'locked.db');
    openTestStore(path).close();
    chmodSync(path, 0o000);
    if (process.getuid?.() !== 0) {
      expectOpenFails(path, 'DB_UNREADABLE');
      return;
    }
    // root reads any file whatever its mode: open it as an unprivileged user instead. The
    // probe drops to uid 65534 itself once its modules are loaded, so this also works from a
    // clone in a folder that user cannot enter (a 0700 home).
    chmodSync(dir, 0o755);
    const probe = fileURLToPath(new URL('./open-store-probe.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', probe, path, '65534'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 20_000,
    });
    expect(result.stdout.trim(), result.stderr).toBe('DB_UNREADABLE');
  });

  it.runIf(process.getuid?.() === 0)('runs the permission probe as the unprivileged user, who creates a database it owns', () => {
    const path = join(dir, 'created-by-probe.db');
    chmodSync(dir, 0o777);
    const probe = fileURLToPath(new URL('./open-store-probe.ts', import.meta.url));
    const result = spawnSync(process.execPath, ['--import', 'tsx', probe, path, '65534'], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 20_000,
    });
    expect(result.stdout.trim(), result.stderr).toBe('opened as uid 65534');
    expect(statSync(path).uid).toBe(65534);
  });

  it('fails with DB_UNREADABLE when a path component is a file', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    expectOpenFails(join(file, 'x.db'), 'DB_UNREADABLE');
  });
});

describe('the integrity check after a graceful close', () => {
  it('is skipped when the file is exactly as the close left it, and the marker is consumed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'odb-clean-'));
    try {
      const path = join(dir, 'device.db');
      const logs: Array<Record<string, unknown>> = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line) as Record<string, unknown>) });
      closeDatabase(openDatabase({ path, logger }));
      expect(existsSync(`${path}.clean`)).toBe(true);
      const db = openDatabase({ path, logger });
      expect(existsSync(`${path}.clean`)).toBe(false);
      expect(logs.map((l) => l['msg'])).toContain('db.integrity_check_skipped_after_clean_close');
      // Not closed gracefully (a crash): no marker, so the next open checks in full.
      db.close();
      logs.length = 0;
      closeDatabase(openDatabase({ path, logger }));
      expect(logs.map((l) => l['msg'])).not.toContain('db.integrity_check_skipped_after_clean_close');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('still fails closed on a file damaged after a graceful close', () => {
    const dir = mkdtempSync(join(tmpdir(), 'odb-clean-'));
    try {
      const path = join(dir, 'device.db');
      const db = openDatabase({ path, logger: silentLogger() });
      db.exec('CREATE TABLE t (x TEXT); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO t SELECT hex(randomblob(200)) FROM n;');
      closeDatabase(db);
      expect(existsSync(`${path}.clean`)).toBe(true);
      truncateSync(path, statSync(path).size - 4096);
      expect(() => openDatabase({ path, logger: silentLogger() })).toThrow(/failed (integrity|quick)_check|corrupt|malformed/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
