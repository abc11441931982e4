import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

// Parses a large codes/batch payload on a worker thread (docs/decisions/0025, addendum):
// strict UTF-8 decode and JSON.parse of a 5 MB message take 10–25 ms here, one turn of the
// event loop the keypad shares. The worker hands back the message with `batch.upserts`
// emptied (`shell`) and the upserts as JSON arrays of at most `chunk` entries, which the
// decoder parses and validates one at a time between turns (code-batch-decoder.ts).
// Strings cross the thread boundary as copies of their bytes: a few ms for the whole
// message, against the structured clone of 10k parsed objects (≈ 20 ms, measured).
// Re-serialising what JSON.parse produced gives the same values again (JSON.stringify of
// parsed JSON is exact), so the decoder sees the message decodeMessage would see.
// The worker is eval'd plain JavaScript (like device/store/parallel-entry-hasher.ts): it
// needs nothing but Node. It starts with the first large batch and stops when idle; a
// failure of any kind makes parse() return undefined from then on and the decoder parses
// in place, as before.

const workerSource = `
const { parentPort } = require('node:worker_threads');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isRecord = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
parentPort.on('message', ({ id, bytes, chunk }) => {
  let text;
  try { text = strictUtf8.decode(bytes); } catch { parentPort.postMessage({ id, ok: false, reason: 'not-utf8' }); return; }
  let json;
  try { json = JSON.parse(text); } catch { parentPort.postMessage({ id, ok: false, reason: 'not-json' }); return; }
  const batch = isRecord(json) && Object.hasOwn(json, 'batch') ? json.batch : undefined;
  const upserts = isRecord(batch) && Object.hasOwn(batch, 'upserts') ? batch.upserts : undefined;
  if (!Array.isArray(upserts)) { parentPort.postMessage({ id, ok: true, shell: text }); return; }
  const chunks = [];
  for (let i = 0; i < upserts.length; i += chunk) chunks.push(JSON.stringify(upserts.slice(i, i + chunk)));
  batch.upserts = [];
  parentPort.postMessage({ id, ok: true, shell: JSON.stringify(json), chunks, count: upserts.length });
});
`;

export type ParsedPayload =
  | { ok: false; reason: 'not-utf8' | 'not-json' }
  /**
   * `shell`: the message's JSON text; with `chunks`, its `batch.upserts` is empty and the
   * upserts are `chunks` (JSON arrays, in order, `count` entries in all).
   */
  | { ok: true; shell: string; chunks?: string[]; count?: number };

interface Pending {
  resolve: (parsed: ParsedPayload) => void;
  reject: (err: Error) => void;
}

/** How long an idle worker is kept (a V8 isolate costs ~9 MB of RSS). */
export const DEFAULT_PARSER_IDLE_MS = 30_000;

export class BatchPayloadParser {
  private worker: Worker | undefined;
  private enabled = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly idleMs: number;

  constructor(
    private readonly log: Logger,
    options: { idleMs?: number } = {},
  ) {
    this.idleMs = options.idleMs ?? DEFAULT_PARSER_IDLE_MS;
  }

  /** Allows the worker; it starts with the first parse. */
  start(): void {
    this.enabled = true;
  }

  stop(): void {
    this.enabled = false;
    this.terminate(new Error('payload parser stopped'));
  }

  get workerRunning(): boolean {
    return this.worker !== undefined;
  }

  /**
   * Parses `payload` on the worker, upserts split into JSON arrays of `chunk` entries; or
   * undefined when no worker is available (the caller parses in place). The promise
   * rejects if the worker fails meanwhile.
   */
  parse(payload: Uint8Array, chunk: number): Promise<ParsedPayload> | undefined {
    const worker = this.ensureWorker();
    if (worker === undefined) return undefined;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const id = this.nextId++;
    // A copy the worker owns: the payload may be a view of a buffer the MQTT client reuses.
    const bytes = new Uint8Array(payload);
    return new Promise<ParsedPayload>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ id, bytes, chunk }, [bytes.buffer]);
    });
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker !== undefined || !this.enabled) return this.worker;
    try {
      const worker = new Worker(workerSource, { eval: true });
      worker.unref();
      worker.on('message', (m: ParsedPayload & { id: number }) => {
        const waiting = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (this.pending.size === 0) {
          worker.unref();
          this.scheduleIdleStop();
        }
        const { id: _id, ...parsed } = m;
        waiting?.resolve(parsed);
      });
      worker.on('error', (err) => {
        this.log.warn({ err }, 'batch_payload_parser.worker_failed');
        this.enabled = false;
        if (this.worker === worker) this.terminate(err);
      });
      this.worker = worker;
    } catch (err) {
      this.log.warn({ err }, 'batch_payload_parser.worker_unavailable');
      this.enabled = false;
    }
    return this.worker;
  }

  private scheduleIdleStop(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) this.terminate(new Error('payload parser idle'));
    }, this.idleMs);
    this.idleTimer.unref();
  }

  private terminate(reason: Error): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    if (worker !== undefined) void worker.terminate();
  }
}
