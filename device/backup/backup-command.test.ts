import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir, waitFor, writeDeviceConfig, type TempDir } from '../systemd/process-harness.js';
import { silentLogger } from '../logger.js';
import { closeDatabase, openDatabase } from '../store/open-database.js';
import { LATEST_SCHEMA_VERSION, migrate } from '../store/migrations.js';
import { runBackupCommand } from './backup-command.js';

// The backup.js of a release, in process (runBackupCommand) against real SQLite files, and
// once as its own process run by root, as update.sh runs it on a board.

const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');
const mainTs = join(import.meta.dirname, 'main.ts');

let tmp: TempDir;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  tmp.cleanup();
});

/** A device database (the real migrations) with a ledger whose rows must add up to its total. */
function deviceDatabase(path: string): void {
  const db = openDatabase({ path, logger: silentLogger() });
  migrate(db);
  db.exec('CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, pad BLOB NOT NULL) STRICT; CREATE TABLE total (id INTEGER PRIMARY KEY CHECK (id = 1), sum INTEGER NOT NULL) STRICT; INSERT INTO total VALUES (1, 0);');
  closeDatabase(db);
}

/** Another process committing ledger rows and the total in one transaction each, forever. */
function startWriter(path: string): ChildProcess {
  const script = join(tmp.dir, 'writer.cjs');
  writeFileSync(script, `
    const Database = require(${JSON.stringify(betterSqlite3)});
    const db = new Database(${JSON.stringify(path)});
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    const add = db.transaction(() => {
      db.prepare('INSERT INTO ledger (amount, pad) VALUES (1, randomblob(1500))').run();
      db.prepare('UPDATE total SET sum = sum + 1 WHERE id = 1').run();
    });
    for (;;) add();
  `);
  const child = spawn(process.execPath, [script], { stdio: 'ignore' });
  children.push(child);
  return child;
}

function total(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], { sum: number }>('SELECT sum FROM total').get()?.sum ?? -1;
  } finally {
    db.close();
  }
}

async function run(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runBackupCommand(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l), env: {} });
  return { code, out, err };
}

describe('backup.js', () => {
  it('copies a database another process keeps writing to into a consistent, verified file', async () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    const db = join(tmp.dir, 'device.db');
    deviceDatabase(db);
    const writer = startWriter(db);
    await waitFor(() => total(db) >= 2000, 'the writer to fill some pages');
    const out = join(tmp.dir, 'pre-update.db');

    const result = await run('--config', config, '--out', out);
    expect(result.err).toEqual([]);
    expect(result.code).toBe(0);
    expect(writer.exitCode).toBeNull(); // still writing after the copy
    const bytes = statSync(out).size;
    expect(result.out).toEqual([`backup: wrote ${out} (${String(bytes)} bytes, schema version ${String(LATEST_SCHEMA_VERSION)}, integrity_check ok) from ${db}`]);
    expect(statSync(out).mode & 0o777).toBe(0o600);

    const copy = new Database(out, { readonly: true });
    try {
      expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
      const rows = copy.prepare<[], { n: number; sum: number }>('SELECT count(*) AS n, sum(amount) AS sum FROM ledger').get();
      const copied = copy.prepare<[], { sum: number }>('SELECT sum FROM total').get()?.sum;
      // One snapshot: every ledger row the copy holds is counted in its total, and no more.
      expect(rows?.n).toBe(copied);
      expect(rows?.sum).toBe(copied);
      expect(copied).toBeGreaterThanOrEqual(2000);
    } finally {
      copy.close();
    }
    // No temporary file is left beside the copy.
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 60_000);

  it('refuses a dbPath that does not exist, and creates nothing', async () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    const out = join(tmp.dir, 'pre-update.db');
    const result = await run('--config', config, '--out', out);
    expect(result.code).toBe(1);
    expect(result.err).toEqual([`backup failed: DB_UNREADABLE: device database file does not exist | path: ${join(tmp.dir, 'device.db')}`]);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(join(tmp.dir, 'device.db'))).toBe(false);
  });

  it('refuses a file that is not a locker device database: text, empty, another program\'s SQLite', async () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    const db = join(tmp.dir, 'device.db');
    const out = join(tmp.dir, 'pre-update.db');
    writeFileSync(db, 'these are not the pages you are looking for\n'.repeat(100));
    const text = await run('--config', config, '--out', out);
    expect(text.code).toBe(1);
    expect(text.err[0]).toMatch(/^backup failed: DB_CORRUPT: device database is corrupt or not a database/);

    writeFileSync(db, '');
    const empty = await run('--config', config, '--out', out);
    expect(empty.code).toBe(1);
    expect(empty.err[0]).toMatch(/^backup failed: DB_CORRUPT: device database file is empty/);

    const other = new Database(db);
    other.exec('CREATE TABLE notes (body TEXT)');
    other.close();
    const foreign = await run('--config', config, '--out', out);
    expect(foreign.code).toBe(1);
    expect(foreign.err[0]).toMatch(/^backup failed: DB_CORRUPT: file is not a locker device database/);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('pre-update') || f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses a database a newer release migrated, keeping the copy taken before that migration', async () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    const db = join(tmp.dir, 'device.db');
    deviceDatabase(db);
    const out = join(tmp.dir, 'pre-update.db');
    expect((await run('--config', config, '--out', out)).code).toBe(0);
    // The update to a newer release migrated the schema, failed, and this release could not
    // start on its database again; the retried update asks this release for a backup.
    const migrated = new Database(db);
    migrated.pragma(`user_version = ${String(LATEST_SCHEMA_VERSION + 1)}`);
    migrated.close();
    const retried = await run('--config', config, '--out', out);
    expect(retried.code).toBe(1);
    expect(retried.err[0]).toMatch(/^backup failed: DB_MIGRATION: device database is newer than this release/);
    // The copy of this release's own schema is still there, and nothing else was left.
    const kept = new Database(out, { readonly: true });
    try {
      expect(kept.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
    } finally {
      kept.close();
    }
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('removes the temporary copy a power cut or a kill left by an earlier run, before copying', async () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    deviceDatabase(join(tmp.dir, 'device.db'));
    const out = join(tmp.dir, 'pre-update.db');
    // A whole database's worth of space, left for good on a card that may be nearly full.
    const stale = [`.pre-update.db.tmp-99999`, `.pre-update.db.tmp-99999-wal`, `.pre-update.db.tmp-4242-journal`];
    for (const f of stale) writeFileSync(join(tmp.dir, f), Buffer.alloc(64 * 1024));
    const other = join(tmp.dir, '.other.db.tmp-99999');
    writeFileSync(other, '');
    const result = await run('--config', config, '--out', out);
    expect(result.code).toBe(0);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-')).sort()).toEqual(['.other.db.tmp-99999']);
  });

  it('prints the dbPath of the config for update.sh, and wants --out otherwise', async () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    expect(await run('--config', config, '--print-db-path')).toEqual({ code: 0, out: [join(tmp.dir, 'device.db')], err: [] });
    expect((await run('--config', config)).code).toBe(2);
  });

  it.skipIf(process.getuid?.() !== 0)('run by root, leaves every file it creates to the owner of the database', () => {
    tmp = tempDir('device-backup-');
    const config = writeDeviceConfig(tmp.dir);
    const db = join(tmp.dir, 'device.db');
    deviceDatabase(db);
    // The service user's data directory, as install.sh makes it; the config stays root's.
    const nobody = 65534;
    chownSync(tmp.dir, nobody, nobody);
    for (const f of readdirSync(tmp.dir)) chownSync(join(tmp.dir, f), nobody, nobody);
    const out = join(tmp.dir, 'pre-update.db');
    const result = spawnSync(process.execPath, ['--import', 'tsx', mainTs, '--config', config, '--out', out], { encoding: 'utf8', timeout: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    // A root-owned -shm would keep the service from opening its own database.
    for (const f of readdirSync(tmp.dir).filter((x) => x.startsWith('device.db') || x.startsWith('pre-update'))) {
      expect(statSync(join(tmp.dir, f)).uid, f).toBe(nobody);
    }
  }, 60_000);
});
