import type { StorageReserve } from './storage-reserve-file.js';

// A storage reserve on an imagined card for tests: `free` bytes, a reserve taken from them.
// `onRelease` is where a test gives the freed room to its database (raising
// max_page_count, e2e/full-disk.ts); without it the release frees nothing SQLite can use.

export class FakeStorageReserve implements StorageReserve {
  taken = false;
  releases = 0;
  /** Set to make ensure() throw (a data directory that cannot be written). */
  failure: Error | undefined;

  constructor(
    readonly bytes: number,
    public free: number,
    public onRelease: () => void = () => undefined,
  ) {}

  ensure(): 'held' | 'no-room' | 'disabled' {
    if (this.failure !== undefined) throw this.failure;
    if (this.bytes === 0) return 'disabled';
    if (this.taken) return 'held';
    if (this.free < this.bytes) return 'no-room';
    this.free -= this.bytes;
    this.taken = true;
    return 'held';
  }

  release(): boolean {
    if (!this.taken) return false;
    this.taken = false;
    this.releases++;
    this.free += this.bytes;
    this.onRelease();
    return true;
  }

  freeBytes(): number {
    return this.free;
  }
}
