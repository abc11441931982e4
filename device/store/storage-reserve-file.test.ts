import { existsSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
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

function reserveIn(bytes = SIZE, free?: () => number): { reserve: FileStorageReserve; path: string; dir: string } {
  const tmp = tempDir('storage-reserve-');
  cleanup = tmp.cleanup;
  const path = join(tmp.dir, RESERVE_FILE_NAME);
  return { reserve: new FileStorageReserve(path, bytes, free), path, dir: tmp.dir };
}

/** Turns of the event loop until the write has put bytes in its temporary file (a synchronous write never lets one run). */
async function midWrite(path: string): Promise<void> {
  for (let turns = 0; !existsSync(`${path}.tmp`) || statSync(`${path}.tmp`).size === 0; turns++) {
    if (turns > 10_000) throw new Error('the write never got under way');
    await nextTurn();
  }
}

const allocated = (path: string): number => statSync(path).blocks * 512;

describe('FileStorageReserve', () => {
  it('writes the reserve with every block allocated, and leaves a taken one alone', async () => {
    const { reserve, path, dir } = reserveIn();
    expect(await reserve.ensure()).toBe('held');
    expect(statSync(path).size).toBe(SIZE);
    expect(allocated(path)).toBeGreaterThanOrEqual(SIZE);
    const mtime = statSync(path).mtimeMs;
    expect(await reserve.ensure()).toBe('held');
    expect(statSync(path).mtimeMs).toBe(mtime);
    expect(readdirSync(dir)).toEqual([RESERVE_FILE_NAME]);
  });

  it('rewrites a sparse or short reserve (a copy, a cut write) so its space is really taken', async () => {
    const { reserve, path } = reserveIn();
    writeFileSync(path, '');
    truncateSync(path, SIZE);
    expect(allocated(path)).toBeLessThan(SIZE);
    expect(await reserve.ensure()).toBe('held');
    expect(allocated(path)).toBeGreaterThanOrEqual(SIZE);

    truncateSync(path, 1000);
    expect(await reserve.ensure()).toBe('held');
    expect(statSync(path).size).toBe(SIZE);
  });

  it('release deletes it (once), frees its blocks, and the free-space figure sees them', async () => {
    const { reserve, path } = reserveIn(16 * 1024 * 1024);
    await reserve.ensure();
    const before = reserve.freeBytes();
    expect(reserve.release()).toBe(true);
    expect(existsSync(path)).toBe(false);
    expect(reserve.release()).toBe(false);
    // Other tests share the file system: only roughly.
    expect(reserve.freeBytes()).toBeGreaterThan(before + 8 * 1024 * 1024);
  });

  it('a reserve of 0 bytes is disabled and removes one left by an earlier config', async () => {
    const { path, dir } = reserveIn();
    await new FileStorageReserve(path, SIZE).ensure();
    expect(await new FileStorageReserve(path, 0).ensure()).toBe('disabled');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('writes without holding the event loop, under a temporary name that never counts as the reserve until complete', async () => {
    const { reserve, path, dir } = reserveIn(16 * 1024 * 1024);
    const ensured = reserve.ensure();
    // Control comes back while the write is under way: the file is only the temporary one.
    await midWrite(path);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([`${RESERVE_FILE_NAME}.tmp`]);
    expect(await ensured).toBe('held');
    expect(readdirSync(dir)).toEqual([RESERVE_FILE_NAME]);
    expect(allocated(path)).toBeGreaterThanOrEqual(16 * 1024 * 1024);
  });

  it('release during the write stops it and deletes its partial file at once; calls never overlap', async () => {
    const { reserve, path, dir } = reserveIn(64 * 1024 * 1024);
    const first = reserve.ensure();
    const second = reserve.ensure();
    await midWrite(path);
    expect(reserve.release()).toBe(true);
    expect(readdirSync(dir)).toEqual([]);
    expect(await first).toBe('cancelled');
    expect(await second).toBe('cancelled');
    expect(readdirSync(dir)).toEqual([]);
    // A later call writes it afresh.
    expect(await reserve.ensure()).toBe('held');
    expect(readdirSync(dir)).toEqual([RESERVE_FILE_NAME]);
  });

  it('cancel stops a write in progress and removes its partial file, but leaves a taken reserve', async () => {
    const { reserve, path, dir } = reserveIn(64 * 1024 * 1024);
    const ensured = reserve.ensure();
    await midWrite(path);
    await reserve.cancel();
    expect(await ensured).toBe('cancelled');
    expect(readdirSync(dir)).toEqual([]);
    expect(await reserve.ensure()).toBe('held');
    await reserve.cancel();
    expect(statSync(path).size).toBe(64 * 1024 * 1024);
  });

  it('removes a temporary file left by a crash mid-write, also when the reserve itself is taken', async () => {
    const { reserve, path, dir } = reserveIn();
    expect(await reserve.ensure()).toBe('held');
    writeFileSync(`${path}.tmp`, Buffer.alloc(100_000));
    expect(await new FileStorageReserve(path, SIZE).ensure()).toBe('held');
    expect(readdirSync(dir)).toEqual([RESERVE_FILE_NAME]);
  });

  it('gives back the room of a short or wrong-size file when there is no room for the reserve, instead of keeping it for good', async () => {
    const { reserve, path, dir } = reserveIn(SIZE, () => SIZE - 1);
    // A reserve cut by a crash mid-write (before writes went through a temporary file).
    writeFileSync(path, Buffer.alloc(SIZE / 3));
    expect(await reserve.ensure()).toBe('no-room');
    expect(readdirSync(dir)).toEqual([]);
    expect(existsSync(path)).toBe(false);
  });
});
