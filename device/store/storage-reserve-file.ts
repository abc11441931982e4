import { ftruncateSync, statSync, statfsSync, unlinkSync, renameSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

// The storage reserve on disk (runtime/storage-reserve.ts says what it is for): a file of
// zeros beside the database. Written chunk by chunk and fsynced, not truncated to size or
// fallocated through a sparse-capable call: a sparse file takes no blocks, and deleting it
// would free nothing. Written asynchronously (fs.promises, small chunks): a restore runs
// while the locker serves, and 8 MiB of fsynced writes held the event loop for about a
// second on an SD card, in the middle of a pickup's door supervision and relay timing.
// Written under a temporary name and renamed once complete and fsynced, so a power cut
// mid-write leaves no short reserve that looks taken; a temporary file found at any
// ensure() is a dead run's (one write at a time) and is removed first.

export type EnsureResult = 'held' | 'no-room' | 'disabled' | 'cancelled';

/** What the runtime's reserve policy (runtime/storage-reserve.ts) needs of the file. */
export interface StorageReserve {
  /** Bytes the reserve holds when taken; 0 disables it. */
  readonly bytes: number;
  /**
   * Makes sure the reserve is taken at its full size (writes it if missing, short or
   * sparse), without holding the event loop. 'no-room': the file system is too full to
   * take it (nothing is left behind); 'disabled': `bytes` is 0 (a reserve left from an
   * earlier config is removed); 'cancelled': release() or cancel() stopped it. Calls never
   * overlap: a second waits for the first. Other failures (permissions) reject.
   */
  ensure(): Promise<EnsureResult>;
  /**
   * Deletes the reserve, at once (synchronously: a refused write is retried right after).
   * A write in progress is stopped and its partial file's blocks given back now. True when
   * that freed space.
   */
  release(): boolean;
  /** Stops a write in progress (its partial file removed) and waits for it; a taken reserve stays. */
  cancel(): Promise<void>;
  /** Bytes free to the device user on the reserve's file system now. */
  freeBytes(): number;
}

/** Its name in the data directory, beside the database (docs/operations.md). */
export const RESERVE_FILE_NAME = 'storage-reserve.bin';

/** Small writes: the event loop never waits on the card, and a release mid-write races at most one chunk. */
const CHUNK = 256 * 1024;
/** Flushed this often, so the card never gets megabytes to write at once ahead of SQLite's own fsync. */
const SYNC_EVERY = 1024 * 1024;

/** Free bytes on the file system holding `dir` (statfs: one cheap system call). */
export type FreeSpace = (dir: string) => number;

const statfsFree: FreeSpace = (dir) => {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
};

interface Writing {
  handle: FileHandle | undefined;
  written: number;
}

export class FileStorageReserve implements StorageReserve {
  private readonly tmpPath: string;
  /** Bumped by release() and cancel(): a write begun under an older one stops at its next chunk. */
  private generation = 0;
  /** The write in progress, if any (release() frees its partial file). */
  private writing: Writing | undefined;
  /** The last ensure(): the next one starts after it settles, so two writes never share the temporary file. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string,
    readonly bytes: number,
    private readonly free: FreeSpace = statfsFree,
  ) {
    this.tmpPath = `${path}.tmp`;
  }

  ensure(): Promise<EnsureResult> {
    const generation = this.generation;
    const run = this.last.then(() => this.ensureNow(generation));
    this.last = run.catch(() => undefined);
    return run;
  }

  release(): boolean {
    this.generation++;
    let freed = false;
    const writing = this.writing;
    if (writing?.handle !== undefined && writing.written > 0) {
      // Unlinking a file still open frees nothing until it is closed, which the write does
      // only after its chunk in flight: truncated now, the database gets the room now.
      try {
        ftruncateSync(writing.handle.fd, 0);
      } catch {
        // Closing already: the unlink below and the close free it.
      }
      freed = true;
    }
    freed = removeIfThere(this.tmpPath) || freed;
    return removeIfThere(this.path) || freed;
  }

  async cancel(): Promise<void> {
    this.generation++;
    await this.last;
  }

  freeBytes(): number {
    return this.free(dirname(this.path));
  }

  private async ensureNow(generation: number): Promise<EnsureResult> {
    if (generation !== this.generation) return 'cancelled';
    // Any temporary file is a dead run's (a crash mid-write): it only eats space.
    removeIfThere(this.tmpPath);
    if (this.bytes === 0) {
      removeIfThere(this.path);
      return 'disabled';
    }
    if (this.taken()) return 'held';
    // Not a reserve (short from a cut write, sparse from a copy, another size): no use as
    // one, and the space it holds is given back now, for the write below or for the
    // database if there is no room for that (else it would stay, never released).
    removeIfThere(this.path);
    // Not written to the last block to learn it does not fit: the database shares the card.
    if (this.freeBytes() < this.bytes) return 'no-room';
    return this.write(generation);
  }

  /** The file is there at its size with every block allocated (st_blocks counts 512-byte units). */
  private taken(): boolean {
    try {
      const s = statSync(this.path);
      return s.isFile() && s.size === this.bytes && s.blocks * 512 >= this.bytes;
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return false;
      throw err;
    }
  }

  private async write(generation: number): Promise<EnsureResult> {
    const writing: Writing = { handle: undefined, written: 0 };
    this.writing = writing;
    const stopped = (): boolean => generation !== this.generation;
    try {
      const handle = await open(this.tmpPath, 'w', 0o600);
      writing.handle = handle;
      try {
        const zeros = Buffer.alloc(Math.min(CHUNK, this.bytes));
        let unsynced = 0;
        while (writing.written < this.bytes) {
          if (stopped()) return 'cancelled';
          const { bytesWritten } = await handle.write(zeros, 0, Math.min(zeros.length, this.bytes - writing.written), writing.written);
          writing.written += bytesWritten;
          unsynced += bytesWritten;
          if (unsynced >= SYNC_EVERY) {
            await handle.datasync();
            unsynced = 0;
          }
        }
        // Blocks are allocated at write time on the file systems a board uses (ext4, f2fs),
        // delayed allocation aside: fsync makes the card really hold them before we count on it.
        await handle.sync();
      } finally {
        writing.handle = undefined;
        await handle.close();
      }
      // Checked and renamed in one synchronous step: a release() cannot fall between.
      if (stopped()) return 'cancelled';
      renameSync(this.tmpPath, this.path);
      await syncDirectory(dirname(this.path));
      return 'held';
    } catch (err) {
      if (isNoSpace(err)) return 'no-room';
      throw err;
    } finally {
      this.writing = undefined;
      // Cancelled, refused or failed: no partial file is left to eat the database's room.
      removeIfThere(this.tmpPath);
    }
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function removeIfThere(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return false;
    throw err;
  }
}

function isNoSpace(err: unknown): boolean {
  const code = codeOf(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}
