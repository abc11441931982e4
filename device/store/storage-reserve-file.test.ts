import { existsSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorageReserve, RESERVE_FILE_NAME } from './storage-reserve-file.js';
import { tempDir } from './store-test-fixtures.js';

// The reserve against a real file: its space really taken (blocks allocated, not a sparse
// file that deleting would free nothing of), rewritten when short or sparse, removed by
// release and by a config of 0 bytes.

const SIZE = 3 * 1024 * 1024 + 12_345;

let cleanup: (() => void) | undefined;

afterEach(() => {
  cleanup?.();
  cleanup = undefined;
});

function reserveIn(bytes = SIZE): { reserve: FileStorageReserve; path: string; dir: string } {
  const tmp = tempDir('storage-reserve-');
  cleanup = tmp.cleanup;
  const path = join(tmp.dir, RESERVE_FILE_NAME);
  return { reserve: new FileStorageReserve(path, bytes), path, dir: tmp.dir };
}

const allocated = (path: string): number => statSync(path).blocks * 512;

describe('FileStorageReserve', () => {
  it('writes the reserve with every block allocated, and leaves a taken one alone', () => {
    const { reserve, path, dir } = reserveIn();
    expect(reserve.ensure()).toBe('held');
    expect(statSync(path).size).toBe(SIZE);
    expect(allocated(path)).toBeGreaterThanOrEqual(SIZE);
    const mtime = statSync(path).mtimeMs;
    expect(reserve.ensure()).toBe('held');
    expect(statSync(path).mtimeMs).toBe(mtime);
    expect(readdirSync(dir)).toEqual([RESERVE_FILE_NAME]);
  });

  it('rewrites a sparse or short reserve (a copy, a cut write) so its space is really taken', () => {
    const { reserve, path } = reserveIn();
    writeFileSync(path, '');
    truncateSync(path, SIZE);
    expect(allocated(path)).toBeLessThan(SIZE);
    expect(reserve.ensure()).toBe('held');
    expect(allocated(path)).toBeGreaterThanOrEqual(SIZE);

    truncateSync(path, 1000);
    expect(reserve.ensure()).toBe('held');
    expect(statSync(path).size).toBe(SIZE);
  });

  it('release deletes it (once), frees its blocks, and the free-space figure sees them', () => {
    const { reserve, path } = reserveIn(16 * 1024 * 1024);
    reserve.ensure();
    const before = reserve.freeBytes();
    expect(reserve.release()).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(reserve.release()).toBe(false);
    // Other tests share the file system: only roughly.
    expect(reserve.freeBytes()).toBeGreaterThan(before + 8 * 1024 * 1024);
  });

  it('a reserve of 0 bytes is disabled and removes one left by an earlier config', () => {
    const { path, dir } = reserveIn();
    new FileStorageReserve(path, SIZE).ensure();
    expect(new FileStorageReserve(path, 0).ensure()).toBe('disabled');
    expect(readdirSync(dir)).toEqual([]);
  });
});
