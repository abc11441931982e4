import { hash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logger.js';

// Computes the XOR of the code-set entry hashes of a batch's upserts on a worker thread
// while the main thread writes the same rows to SQLite, so the code-set digest costs
// (almost) nothing on top of the inserts: SHA-256 of 10k tokens is a third of the
// time of inserting them here, and the budget is 1.5x the inserts in total.
// The result comes back through a SharedArrayBuffer: wait() blocks on Atomics.wait (the
// one-transaction apply), settled() awaits Atomics.waitAsync so a batch applied in slices
// never blocks the event loop on the worker (code-batch-applier.ts). Any failure (no worker, a timeout, an exception in the worker) falls
// back to hashing on the main thread: slower, never wrong.
// The worker is eval'd plain JavaScript, so it loads the same way under tsx, vitest and
// the compiled build. Same bytes as code-set-digest.ts's codeEntryHash: tokenId "\n" token.
// The worker starts with the first large batch and stops after an idle period: kept for
// the life of the process it cost ~9 MB of RSS for nothing between batches.

const workerSource = `
const { parentPort } = require('node:worker_threads');
const { hash } = require('node:crypto');
parentPort.on('message', (m) => {
  const flag = new Int32Array(m.control, 0, 1);
  const out = new Uint8Array(m.control, 4, 32);
  try {
    for (let i = 0; i < m.ids.length; i++) {
      const h = hash('sha256', m.ids[i] + '\\n' + m.tokens[i], 'buffer');
      for (let j = 0; j < 32; j++) out[j] ^= h[j];
    }
    Atomics.store(flag, 0, 1);
  } catch {
    Atomics.store(flag, 0, 2);
  }
  Atomics.notify(flag, 0);
});
`;

/** Below this many entries a message round trip costs more than hashing in place. */
const MIN_PARALLEL_ENTRIES = 1_000;
/** Far above the worker's time for the largest batch (200k entries ≈ 1 s on a slow board). */
const WAIT_TIMEOUT_MS = 10_000;
const DONE = 1;

export interface EntryText {
  tokenId: string;
  token: string;
}

export interface PendingXor {
  /** Blocks until the XOR of all entry hashes (32 bytes) is known. */
  wait(): Buffer;
  /** The same result without blocking the event loop while the worker finishes. */
  settled(): Promise<Buffer>;
}

type WaitAsync = (array: Int32Array, index: number, value: number, timeoutMs: number) =>
  { async: false; value: string } | { async: true; value: Promise<string> };

/** Atomics.waitAsync (Node 16+); typed here because the project's lib is ES2023. */
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

export function xorEntryHashes(entries: readonly EntryText[]): Buffer {
  const acc = Buffer.alloc(32);
  for (const e of entries) {
    const h = hash('sha256', `${e.tokenId}\n${e.token}`, 'buffer');
    for (let j = 0; j < 32; j++) acc[j] = (acc[j] ?? 0) ^ (h[j] ?? 0);
  }
  return acc;
}

/**
 * How long an idle worker is kept. A worker is a whole V8 isolate (~9 MB of RSS, measured
 * on a 100k-code store): a locker gets a large batch at install and after a resync, and
 * small deltas otherwise, so the worker lives only around large batches.
 */
export const DEFAULT_WORKER_IDLE_MS = 30_000;

export interface ParallelEntryHasherOptions {
  /** Terminate the worker after this long without a large batch. */
  idleMs?: number;
}

export class ParallelEntryHasher {
  private worker: Worker | undefined;
  private enabled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(
    private readonly log: Logger,
    options: ParallelEntryHasherOptions = {},
  ) {
    this.idleMs = options.idleMs ?? DEFAULT_WORKER_IDLE_MS;
  }

  /**
   * Allows the worker; it is started lazily by the first batch large enough to use it
   * (its boot overlaps that batch's inserts) and terminated after `idleMs` without one.
   * A worker that fails to start or dies is replaced by hashing in place.
   */
  start(): void {
    this.enabled = true;
  }

  /** Whether a worker thread exists right now (tests, diagnostics). */
  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker !== undefined || !this.enabled) return this.worker;
    try {
      const worker = new Worker(workerSource, { eval: true });
      worker.unref();
      worker.on('error', (err) => {
        // Hash in place from now on rather than respawn a worker that keeps failing.
        this.log.warn({ err }, 'entry_hasher.worker_failed');
        if (this.worker === worker) this.worker = undefined;
        this.enabled = false;
      });
      this.worker = worker;
      this.log.debug({}, 'entry_hasher.worker_started');
    } catch (err) {
      this.log.warn({ err }, 'entry_hasher.worker_unavailable');
      this.enabled = false;
    }
    return this.worker;
  }

  /** (Re)arms the idle timer; an unref'd timer never keeps the process alive. */
  private scheduleIdleStop(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      this.terminateWorker();
      this.log.debug({}, 'entry_hasher.worker_idle_stopped');
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private terminateWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) void worker.terminate();
  }

  stop(): void {
    this.enabled = false;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.terminateWorker();
  }

  begin(entries: readonly EntryText[]): PendingXor {
    const worker = entries.length < MIN_PARALLEL_ENTRIES ? undefined : this.ensureWorker();
    if (worker === undefined) {
      const inPlace = (): Buffer => xorEntryHashes(entries);
      return { wait: inPlace, settled: () => Promise.resolve(inPlace()) };
    }
    const control = new SharedArrayBuffer(4 + 32);
    const ids = new Array<string>(entries.length);
    const tokens = new Array<string>(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e === undefined) continue;
      ids[i] = e.tokenId;
      tokens[i] = e.token;
    }
    worker.postMessage({ control, ids, tokens });
    // Atomics.waitAsync holds no reference on the event loop and the idle worker is unref'd:
    // while a result is awaited the worker must keep the process alive, or it just exits.
    worker.ref();
    const flag = new Int32Array(control, 0, 1);
    const result = (): Buffer => {
      worker.unref();
      this.scheduleIdleStop();
      if (Atomics.load(flag, 0) === DONE) return Buffer.from(new Uint8Array(control, 4, 32));
      this.log.warn({ entries: entries.length }, 'entry_hasher.fallback');
      return xorEntryHashes(entries);
    };
    return {
      wait: () => {
        Atomics.wait(flag, 0, 0, WAIT_TIMEOUT_MS);
        return result();
      },
      settled: async () => {
        if (waitAsync !== undefined) {
          const waited = waitAsync(flag, 0, 0, WAIT_TIMEOUT_MS);
          if (waited.async) await waited.value;
        } else {
          Atomics.wait(flag, 0, 0, WAIT_TIMEOUT_MS);
        }
        return result();
      },
    };
  }
}
