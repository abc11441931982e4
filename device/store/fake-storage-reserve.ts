import type { EnsureResult, StorageReserve } from './storage-reserve-file.js';

// A storage reserve on an imagined card for tests: `free` bytes, a reserve taken from them.
// `onRelease` is where a test gives the freed room to its database (raising
// max_page_count, e2e/full-disk.ts); without it the release frees nothing SQLite can use.
// With `holdWrites` a write stays in progress until resume() (a restore caught mid-write);
// a release meanwhile frees its partial file (counted in `releases`, `onRelease` called).

export class FakeStorageReserve implements StorageReserve {
  taken = false;
  releases = 0;
  /** Writes begun (an ensure() that had to write). */
  writes = 0;
  /** Set to make ensure() throw (a data directory that cannot be written). */
  failure: Error | undefined;
  /** Set to make freeBytes() throw (the data directory gone). */
  freeFailure: Error | undefined;
  /** Set: a write waits for resume() before it completes. */
  holdWrites = false;
  /** A write is in progress now. */
  writing = false;
  private generation = 0;
  private resumeWrite: (() => void) | undefined;

  constructor(
    readonly bytes: number,
    public free: number,
    public onRelease: () => void = () => undefined,
  ) {}

  async ensure(): Promise<EnsureResult> {
    if (this.failure !== undefined) throw this.failure;
    if (this.bytes === 0) return 'disabled';
    if (this.taken) return 'held';
    if (this.free < this.bytes) return 'no-room';
    if (this.writing) throw new Error('FakeStorageReserve: two writes at once');
    const generation = this.generation;
    this.writes++;
    this.writing = true;
    if (this.holdWrites) await new Promise<void>((resolve) => (this.resumeWrite = resolve));
    else await Promise.resolve();
    this.writing = false;
    if (generation !== this.generation) return 'cancelled';
    this.free -= this.bytes;
    this.taken = true;
    return 'held';
  }

  /** Lets a held write go on. */
  resume(): void {
    const resume = this.resumeWrite;
    this.resumeWrite = undefined;
    resume?.();
  }

  release(): boolean {
    this.generation++;
    if (this.writing) {
      // The partial file's room, given back at once.
      this.resume();
      this.releases++;
      this.onRelease();
      return true;
    }
    if (!this.taken) return false;
    this.taken = false;
    this.releases++;
    this.free += this.bytes;
    this.onRelease();
    return true;
  }

  cancel(): Promise<void> {
    this.generation++;
    this.resume();
    return Promise.resolve();
  }

  freeBytes(): number {
    if (this.freeFailure !== undefined) throw this.freeFailure;
    return this.free;
  }
}
