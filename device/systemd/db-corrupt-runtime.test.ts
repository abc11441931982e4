import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceChild, tempDir, waitFor, writeDeviceConfig } from './process-harness.js';

// The real device process (device/main.ts) on a real SQLite file whose pages are damaged
// while it runs (SD-card bit rot, a torn page after a brown-out). Before, every pickup
// ended in "Something went wrong" (runtime.handler-failed, INTERNAL) while the process
// ran on looking healthy. Now the first corruption is fatal: one device.db-corrupt line,
// every relay off, exit 1, no clean-shutdown marker; the restart systemd makes then fails
// closed at its integrity check with DB_CORRUPT.

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Overwrites the root page of the tables a code lookup reads, behind the device's back. */
function damageCodeLookup(dbPath: string): void {
  const db = new Database(dbPath);
  try {
    // Fold the WAL into the file so the damaged page is the one SQLite reads.
    db.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const roots = db.prepare("SELECT rootpage FROM sqlite_master WHERE name IN ('code_entries', 'code_entries_open_digest')").all() as Array<{ rootpage: number }>;
    expect(roots).toHaveLength(2);
    const fd = openSync(dbPath, 'r+');
    try {
      for (const { rootpage } of roots) writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, (rootpage - 1) * pageSize);
    } finally {
      closeSync(fd);
    }
    // A commit by another connection makes the device's next read drop its page cache
    // (WAL index changed), as any cache eviction would: it reads the damaged page.
    const version = db.pragma('user_version', { simple: true }) as number;
    db.pragma(`user_version = ${String(version)}`);
  } finally {
    db.close();
  }
}

describe('a database damaged under the running device', () => {
  it('a pickup meeting it: logs device.db-corrupt once, relays off, exits 1; the restart fails closed with DB_CORRUPT', async () => {
    const tmp = tempDir('db-corrupt-');
    cleanups.push(() => tmp.cleanup());
    const config = writeDeviceConfig(tmp.dir);
    const dbPath = join(tmp.dir, 'device.db');
    const child = new DeviceChild(config, {});
    cleanups.push(() => child.kill());
    await waitFor(() => child.has('marker', 'started'), `the device to start (stderr: ${child.stderr.slice(0, 500)})`);

    damageCodeLookup(dbPath);
    child.send('keys 12345678#\n');
    await waitFor(() => child.exit !== undefined, 'the device to exit on the corrupt database', 10_000);

    expect(child.exit?.code).toBe(1);
    const corrupt = child.lines.filter((l) => l['msg'] === 'device.db-corrupt');
    expect(corrupt).toHaveLength(1);
    expect(corrupt[0]).toMatchObject({ level: 60, errorCode: 'DB_CORRUPT', sqliteCode: expect.stringMatching(/^SQLITE_CORRUPT/) as unknown, where: 'findEntryByCodeDigest' });
    expect(child.first('msg', 'device.crash-exit')).toMatchObject({ level: 60, relaysOff: true });
    // Not the old behaviour: an error line per customer and the process carrying on.
    expect(child.has('msg', 'runtime.handler-failed')).toBe(false);
    // Not closed gracefully: a marker would let the restart skip the integrity check.
    expect(existsSync(`${dbPath}.clean`)).toBe(false);
    // Left instead: the restart runs the full integrity_check, whatever the file's size.
    expect(existsSync(`${dbPath}.corrupt`)).toBe(true);

    const restart = new DeviceChild(config, {});
    cleanups.push(() => restart.kill());
    await waitFor(() => restart.exit !== undefined, 'the restart to exit');
    expect(restart.exit?.code).toBe(1);
    expect(restart.stderr).toMatch(/DB_CORRUPT/);
    expect(restart.has('marker', 'started')).toBe(false);
  }, 60_000);
});
