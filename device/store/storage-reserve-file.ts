import { closeSync, fsyncSync, openSync, renameSync, statSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

// The storage reserve on disk (runtime/storage-reserve.ts says what it is for): a file of
// zeros beside the database. Written chunk by chunk and fsynced, not truncated to size or
// fallocated through a sparse-capable call: a sparse file takes no blocks, and deleting it
// would free nothing. Written under a temporary name and renamed, so a power cut mid-write
// leaves no short reserve that looks taken.

/** What the runtime's reserve policy (runtime/storage-reserve.ts) needs of the file. */
export interface StorageReserve {
  /** Bytes the reserve holds when taken; 0 disables it. */
  readonly bytes: number;
  /**
   * Makes sure the reserve is taken at its full size (writes it if missing, short or
   * sparse). 'no-room': the file system is too full to take it (nothing is left behind);
   * 'disabled': `bytes` is 0 (a reserve left from an earlier config is removed). Other
   * failures (permissions) throw.
   */
  ensure(): 'held' | 'no-room' | 'disabled';
  /** Deletes the reserve; true when that freed space (the file was there). */
  release(): boolean;
  /** Bytes free to the device user on the reserve's file system now. */
  freeBytes(): number;
}

/** Its name in the data directory, beside the database (docs/operations.md). */
export const RESERVE_FILE_NAME = 'storage-reserve.bin';

const CHUNK = 1024 * 1024;

export class FileStorageReserve implements StorageReserve {
  private readonly tmpPath: string;

  constructor(
    readonly path: string,
    readonly bytes: number,
  ) {
    this.tmpPath = `${path}.tmp`;
  }

  ensure(): 'held' | 'no-room' | 'disabled' {
    if (this.bytes === 0) {
      this.release();
      return 'disabled';
    }
    if (this.taken()) return 'held';
    try {
      this.write();
    } catch (err) {
      removeIfThere(this.tmpPath);
      if (isNoSpace(err)) return 'no-room';
      throw err;
    }
    return 'held';
  }

  release(): boolean {
    removeIfThere(this.tmpPath);
    return removeIfThere(this.path);
  }

  freeBytes(): number {
    const s = statfsSync(dirname(this.path));
    return s.bavail * s.bsize;
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

  private write(): void {
    const zeros = Buffer.alloc(Math.min(CHUNK, this.bytes));
    const fd = openSync(this.tmpPath, 'w', 0o600);
    try {
      for (let written = 0; written < this.bytes;) {
        written += writeSync(fd, zeros, 0, Math.min(zeros.length, this.bytes - written));
      }
      // Blocks are allocated at write time on the file systems a board uses (ext4, f2fs),
      // delayed allocation aside: fsync makes the card really hold them before we count on it.
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(this.tmpPath, this.path);
    syncDirectory(dirname(this.path));
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
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
