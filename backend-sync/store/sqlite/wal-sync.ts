import { open, type FileHandle } from 'node:fs/promises';
import { BackendError } from '../../shared/errors.js';

// The fsync of a commit, taken off the event loop (docs/decisions/0035). The connection runs
// with synchronous=NORMAL, so COMMIT only writes the WAL frames; before anyone is told a
// write succeeded, the executor awaits flush(), an fdatasync of the WAL file on libuv's
// thread pool. Every frame written before flush() was called is on disk when it resolves
// (an fsync covers the whole file, whichever descriptor wrote it), so what a caller is
// acknowledged is exactly as durable as with synchronous=FULL; meanwhile the event loop
// parses the next requests and the next group commits. Callers that arrive while a sync
// runs share the next one (their frames may postdate the running one).

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class WalSync {
  private handle: FileHandle | undefined;
  private waiters: Waiter[] = [];
  private draining = false;
  private readonly idle: Array<() => void> = [];
  private closed = false;
  /** After a failed fsync the kernel may have dropped the dirty pages and report the next
   * sync clean, so one failure fails every later flush too (as PostgreSQL panics): the
   * process must restart and let SQLite recover from what is really on disk. */
  private failure: BackendError | undefined;
  /** fdatasync calls made: one per batch of waiters, for tests and metrics. */
  syncs = 0;

  constructor(
    private readonly walPath: string,
    /** Called once, when durability is first lost: the process should stop and restart. */
    private readonly onFailure?: (err: BackendError) => void,
  ) {}

  /** Resolves once everything the connection wrote to the WAL before this call is on disk. */
  flush(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new BackendError('DB_DURABILITY', 'the database is closed', { wal: this.walPath }));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.draining) {
        this.draining = true;
        void this.drain();
      }
    });
  }

  /** True once a sync has failed: nothing written since can be trusted to be on disk. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiters.length > 0) {
        // Taken before the sync starts: each of these wrote before it, so it covers them all.
        const batch = this.waiters;
        this.waiters = [];
        try {
          if (this.failure !== undefined) throw this.failure;
          this.handle ??= await open(this.walPath, 'r+');
          await this.handle.datasync();
          this.syncs++;
          for (const w of batch) w.resolve();
        } catch (err) {
          if (this.failure === undefined) {
            this.failure = new BackendError('DB_DURABILITY', 'the write-ahead log could not be synced to disk', {
              wal: this.walPath,
              cause: err instanceof Error ? err.message : String(err),
            });
            this.onFailure?.(this.failure);
          }
          for (const w of batch) w.reject(this.failure);
        }
      }
    } finally {
      // Cleared in the same step that found no waiter, so a flush() that follows always
      // starts a new drain.
      this.draining = false;
      for (const f of this.idle.splice(0)) f();
    }
  }

  /** Waits for the sync in flight, then releases the file. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.draining) await new Promise<void>((r) => this.idle.push(r));
    await this.handle?.close();
    this.handle = undefined;
  }
}
