import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../../shared/logger.js';
import { databaseFile } from './database-file.js';
import { RepeatingFailureLog } from './repeating-failure-log.js';

// Copies the WAL back into the database file from a worker thread with its own connection,
// so the event loop never does it (docs/decisions/0035). SQLite's automatic checkpoint runs
// inside the COMMIT that crosses 1,000 WAL pages: at checkout rates that is several times a
// second, each copying ~4 MiB and syncing two files on the thread that serves HTTP.
//
// The worker runs PASSIVE checkpoints, which never wait for or block the writer. Under a
// steady write load they cannot always finish the whole log (new frames arrive meanwhile),
// and a WAL restarts from its beginning only after a complete checkpoint, so the writer
// keeps a backstop automatic checkpoint at BACKSTOP_PAGES: by then the worker has copied
// nearly everything, the writer's own pass is short, and the log starts over. If the worker
// fails, the writer goes back to SQLite's default and the failure is logged.

/** SQLite's default wal_autocheckpoint, restored when the worker is gone. */
const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;
/** 40 MiB of log: a fraction of a second at the measured peak, a bound on WAL growth. */
export const BACKSTOP_PAGES = 10_000;
/** How long a stop waits for the worker's answer before terminating it. */
const STOP_WAIT_MS = 5_000;

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('synchronous = NORMAL');
let stopped = false;
const pass = () => {
  if (stopped) return;
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ type: 'pass', log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: String(err && err.message || err) });
  }
};
const timer = setInterval(pass, workerData.everyMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  stopped = true;
  clearInterval(timer);
  db.close();
  parentPort.postMessage({ type: 'stopped' });
});
`;

type WorkerMessage = { type: 'pass'; log: number; checkpointed: number } | { type: 'error'; message: string } | { type: 'stopped' };

export interface CheckpointerOptions {
  db: Database.Database;
  logger: Logger;
  /** How often the worker copies the log; the default keeps the WAL to a few MiB at peak. */
  everyMs?: number;
}

export class BackgroundCheckpointer {
  private readonly log: Logger;
  /** A pass that fails fails again 50 ms later (a full disk, an I/O error): logged, not flooded. */
  private readonly passFailures: RepeatingFailureLog;
  private worker: Worker | undefined;
  private stopping: Promise<void> | undefined;
  /** Passes the worker reported; `lastLog` the WAL size (pages) it last saw. */
  passes = 0;
  lastLog = 0;

  constructor(private readonly o: CheckpointerOptions) {
    this.log = o.logger.child({ component: 'db-checkpoint' });
    this.passFailures = new RepeatingFailureLog({ log: this.log, event: 'db.checkpoint_failed' });
  }

  /** Passes that failed in a row, up to now (0 after one succeeded). */
  get failingPasses(): number {
    return this.passFailures.consecutive;
  }

  start(): void {
    const { db } = this.o;
    if (db.memory || this.worker !== undefined) return;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(workerSource, { eval: true, workerData: { driver, path: databaseFile(db), everyMs: this.o.everyMs ?? 50 } });
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'pass') {
        this.passes++;
        this.lastLog = m.log;
        this.passFailures.succeeded();
      } else if (m.type === 'error') {
        this.passFailures.failed(m.message);
      }
    });
    worker.on('error', (err) => this.fallBack(worker, err));
    worker.on('exit', (code) => {
      if (this.worker === worker && this.stopping === undefined) this.fallBack(worker, new Error(`checkpoint worker exited with code ${String(code)}`));
    });
    // A checkpoint is housekeeping: it must not keep a stopping process alive. After the
    // listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.worker = worker;
    db.pragma(`wal_autocheckpoint = ${String(BACKSTOP_PAGES)}`);
    this.log.info({ everyMs: this.o.everyMs ?? 50, backstopPages: BACKSTOP_PAGES }, 'db.checkpoint_worker_started');
  }

  /** Stops the worker and hands checkpoints back to the writer (a closing connection checkpoints itself). */
  stop(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return Promise.resolve();
    this.stopping ??= new Promise<void>((resolve) => {
      const done = (): void => {
        this.worker = undefined;
        if (this.o.db.open) this.o.db.pragma(`wal_autocheckpoint = ${String(DEFAULT_AUTOCHECKPOINT_PAGES)}`);
        resolve();
      };
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'stopped') void worker.terminate().then(done, done);
      });
      worker.once('exit', done);
      // Unref'd while it runs; a stop is awaited, so the process must wait for the answer
      // (else a program ends inside close(), its WAL not checkpointed). A worker that never
      // answers (stuck in a pass) is terminated rather than holding the shutdown forever.
      worker.ref();
      const stuck = setTimeout(() => void worker.terminate(), STOP_WAIT_MS);
      worker.once('exit', () => clearTimeout(stuck));
      worker.postMessage('stop');
    });
    return this.stopping;
  }

  /** Durability is lost: stop copying the WAL into the file at once, and keep the writer
   * from doing it either; SQLite's recovery at the next start decides what is on disk. */
  halt(): void {
    const worker = this.worker;
    this.worker = undefined;
    this.stopping ??= worker === undefined ? Promise.resolve() : worker.terminate().then(() => undefined);
    if (this.o.db.open) this.o.db.pragma('wal_autocheckpoint = 0');
  }

  private fallBack(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    if (this.o.db.open) this.o.db.pragma(`wal_autocheckpoint = ${String(DEFAULT_AUTOCHECKPOINT_PAGES)}`);
    this.log.error({ err }, 'db.checkpoint_worker_failed');
  }
}
