import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';
import type { SqliteDatabase } from './open-database.js';

// Copies the WAL back into the database file from a second connection on a worker thread,
// while a large code batch is staged in slices (docs/decisions/0025, addendum).
//
// Why: SQLite checkpoints on the connection whose commit pushes the WAL past
// wal_autocheckpoint (1000 pages). A 10k-code batch dirties a page of the code-digest index
// per row, so every few slices one slice's commit also copied ~4 MB back into the file: about
// 10 ms of the event loop on top of the slice, the longest block left after the odds count.
// During a large sliced apply the applier turns autocheckpoint off on the main connection
// and nudges this worker after each slice; WAL lets a checkpoint run beside the writer (the
// writer never waits for it). Outside a large apply nothing changes.
//
// The worker's connection is open only while it checkpoints (a "burst"), so it is never the
// connection that closes last: the main connection still folds the WAL in at close and
// leaves the clean-shutdown marker (clean-shutdown-marker.ts). stop() waits, bounded, for a
// burst to end before the main connection closes. Any failure of the worker turns it off:
// the applier then leaves autocheckpoint on, as before.
// The worker is eval'd CommonJS (like parallel-entry-hasher.ts) and loads better-sqlite3
// from the path the main thread resolved, so it runs the same under tsx, vitest and the build.

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const control = new Int32Array(workerData.control);
const IDLE = 0, BUSY = 1;
let db;
let scheduled = false;
let pending = false;
const closeAndIdle = () => {
  if (db !== undefined) { try { db.close(); } catch {} db = undefined; }
  Atomics.compareExchange(control, 0, BUSY, IDLE);
  Atomics.notify(control, 0);
};
const pass = () => {
  scheduled = false;
  if (!pending || Atomics.load(control, 1) !== 0) { closeAndIdle(); return; }
  pending = false;
  try {
    if (db === undefined) {
      // Refused once stop() has begun: the main connection is about to close.
      if (Atomics.compareExchange(control, 0, IDLE, BUSY) !== IDLE) return;
      db = new Database(workerData.path, { fileMustExist: true });
      db.pragma('busy_timeout = 0');
      db.pragma('synchronous = FULL');
    }
    const started = performance.now();
    const row = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ kind: 'checkpointed', ms: performance.now() - started, frames: row.log });
  } catch (err) {
    closeAndIdle();
    parentPort.postMessage({ kind: 'failed', message: String(err && err.message) });
    return;
  }
  // A request that arrived meanwhile is delivered before the next pass: one more, else close.
  scheduled = true;
  setImmediate(pass);
};
parentPort.on('message', () => {
  pending = true;
  if (!scheduled) { scheduled = true; setImmediate(pass); }
});
`;

const IDLE = 0;
const BUSY = 1;
const STOPPED = 2;
/** How long stop() waits for a checkpoint in progress (one burst's pass is a few ms). */
const STOP_WAIT_MS = 5_000;
/** How long an idle worker is kept (a V8 isolate costs ~9 MB of RSS, parallel-entry-hasher.ts). */
export const DEFAULT_CHECKPOINTER_IDLE_MS = 30_000;

export interface WalCheckpointerOptions {
  /** Terminate the worker after this long without a request. */
  idleMs?: number;
}

export interface CheckpointerStats {
  /** Checkpoints the worker ran. */
  checkpoints: number;
  /** The longest of them, ms (on the worker, not on the event loop). */
  longestMs: number;
}

type WorkerReport = { kind: 'checkpointed'; ms: number; frames: number } | { kind: 'failed'; message: string };

export class WalCheckpointer {
  private worker: Worker | undefined;
  private control: Int32Array | undefined;
  private enabled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;
  private readonly counters: CheckpointerStats = { checkpoints: 0, longestMs: 0 };

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    options: WalCheckpointerOptions = {},
  ) {
    this.idleMs = options.idleMs ?? DEFAULT_CHECKPOINTER_IDLE_MS;
  }

  /** Allows the worker; it starts with the first request. */
  start(): void {
    this.enabled = true;
  }

  /** Whether checkpoints can be handed to the worker (false: leave autocheckpoint on). */
  get available(): boolean {
    return this.enabled;
  }

  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  stats(): CheckpointerStats {
    return { ...this.counters };
  }

  /** Asks for a passive checkpoint soon; requests made while one runs are coalesced. */
  request(): void {
    const worker = this.ensureWorker();
    if (worker === undefined) return;
    worker.postMessage(0);
    this.scheduleIdleStop();
  }

  /**
   * Ends the worker: no checkpoint is running and none starts once this returns, so the
   * main connection may close. Blocks (bounded) while a checkpoint finishes.
   */
  stop(): void {
    this.enabled = false;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.terminate();
  }

  private terminate(): void {
    const worker = this.worker;
    const control = this.control;
    this.worker = undefined;
    this.control = undefined;
    if (worker === undefined || control === undefined) return;
    Atomics.store(control, 1, 1);
    const deadline = performance.now() + STOP_WAIT_MS;
    while (Atomics.compareExchange(control, 0, IDLE, STOPPED) === BUSY) {
      const left = deadline - performance.now();
      if (left <= 0) {
        this.log.warn({}, 'wal_checkpointer.stop_timeout');
        break;
      }
      Atomics.wait(control, 0, BUSY, left);
    }
    void worker.terminate();
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker !== undefined || !this.enabled) return this.worker;
    try {
      const control = new Int32Array(new SharedArrayBuffer(8));
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      const worker = new Worker(workerSource, { eval: true, workerData: { path: this.path, driver, control: control.buffer } });
      worker.unref();
      worker.on('message', (m: WorkerReport) => {
        if (m.kind === 'failed') {
          this.disable(worker, { message: m.message });
          return;
        }
        this.counters.checkpoints += 1;
        this.counters.longestMs = Math.max(this.counters.longestMs, m.ms);
        // Idle means nothing requested and nothing running: counted from the last pass.
        if (this.worker === worker) this.scheduleIdleStop();
      });
      worker.on('error', (err) => this.disable(worker, { err }));
      this.worker = worker;
      this.control = control;
      this.log.debug({}, 'wal_checkpointer.worker_started');
    } catch (err) {
      this.log.warn({ err }, 'wal_checkpointer.worker_unavailable');
      this.enabled = false;
    }
    return this.worker;
  }

  /**
   * Checkpoints stay with the main connection from now on (autocheckpoint), rather than
   * respawn a worker that keeps failing.
   */
  private disable(worker: Worker, detail: object): void {
    this.log.warn(detail, 'wal_checkpointer.worker_failed');
    this.enabled = false;
    if (this.worker === worker) this.terminate();
  }

  private scheduleIdleStop(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.terminate();
      this.log.debug({}, 'wal_checkpointer.worker_idle_stopped');
    }, this.idleMs);
    this.idleTimer.unref();
  }
}

/** While a large sliced apply runs: the main connection stops checkpointing, the worker does it. */
export interface CheckpointLease {
  /** After each of the apply's commits. */
  afterCommit(): void;
  /** Gives checkpoints back to the main connection (autocheckpoint as before). */
  release(): void;
}

/**
 * Hands the checkpoints of `db` (the main connection) to the worker until release(), or
 * returns undefined when no worker can take them. If the worker fails meanwhile, the next
 * afterCommit() gives them back at once.
 */
export function leaseCheckpoints(db: SqliteDatabase, checkpointer: WalCheckpointer): CheckpointLease | undefined {
  if (!checkpointer.available) return undefined;
  const previous = Number(db.pragma('wal_autocheckpoint', { simple: true }));
  db.pragma('wal_autocheckpoint = 0');
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    // A store closed under a running apply has nothing left to give back.
    if (!db.open) return;
    db.pragma(`wal_autocheckpoint = ${String(previous)}`);
    // What the last commits added, so the next commit on the main connection finds little.
    checkpointer.request();
  };
  return {
    afterCommit: () => {
      if (!held) return;
      if (checkpointer.available) checkpointer.request();
      else release();
    },
    release,
  };
}
