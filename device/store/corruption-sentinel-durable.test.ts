import { mkdtempSync, rmSync } from 'node:fs';
import * as fs from 'node:fs';
import type * as NodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

// The sentinel is written just before the process exits on corruption, and corruption at
// runtime is mostly what a brown-out leaves behind: the power may go again within seconds.
// fsync of the file alone does not make its new name durable (ext4 commits directory
// entries with its journal, every 5 s): the restart after a power cut would find no
// sentinel and fall back to quick_check on the damaged file. So the directory is synced too.

const synced: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof NodeFs>();
  return {
    ...real,
    fsyncSync: (fd: number) => {
      synced.push(real.fstatSync(fd).isDirectory() ? 'dir' : 'file');
      real.fsyncSync(fd);
    },
  };
});

const { writeCorruptionSentinel, hasCorruptionSentinel } = await import('./corruption-sentinel.js');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  synced.length = 0;
});

describe('writeCorruptionSentinel', () => {
  it('syncs the file and then its directory, so the name survives a power cut', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
    dirs.push(dir);
    const db = join(dir, 'locker.db');
    expect(writeCorruptionSentinel(db, { sqliteCode: 'SQLITE_CORRUPT', where: 'findEntryByCodeDigest', at: 1 })).toBe(true);
    expect(hasCorruptionSentinel(db)).toBe(true);
    expect(synced).toEqual(['file', 'dir']);
    expect(fs.statSync(`${db}.corrupt`).mode & 0o777).toBe(0o600);
  });
});
