import { closeSync, fdatasync, openSync } from 'node:fs';

// Durability of a commit without blocking the event loop. With synchronous=FULL every
// COMMIT fsyncs the WAL inside better-sqlite3's synchronous call: the whole process stops
// for the disk, once per group commit, and nothing else runs meanwhile. With
// synchronous=NORMAL the COMMIT only writes the WAL; this flushes it with fdatasync on
// libuv's thread pool, and a caller is told "done" only after a flush that STARTED after
// its commit. A commit is durable exactly when the WAL holding it is on disk, so nothing
// is acknowledged that FULL would not have made durable; meanwhile the connection is free
// for the next transaction (its flush overlaps the next group's work).

export type Datasync = (fd: number) => Promise<void>;

const nodeDatasync: Datasync = (fd) => new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));

export class WalSync {
  private fd: number | undefined;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  /** Flushes started (for tests and metrics). */
  flushes = 0;

  constructor(
    private readonly walPath: string,
    private readonly datasync: Datasync = nodeDatasync,
  ) {}

  /** Resolves once everything committed before this call is on disk. */
  afterCommit(): Promise<void> {
    // A flush already running may have started before the caller's commit: wait for the
    // one after it (shared by every caller that arrives meanwhile).
    if (this.running !== undefined) {
      this.next ??= this.running.then(
        () => this.start(),
        () => this.start(),
      );
      return this.next;
    }
    return this.start();
  }

  private start(): Promise<void> {
    this.next = undefined;
    this.fd ??= openSync(this.walPath, 'r');
    this.flushes++;
    const p = this.datasync(this.fd).finally(() => {
      if (this.running === p) this.running = undefined;
    });
    this.running = p;
    return p;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
