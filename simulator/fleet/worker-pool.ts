import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WorkerMessage, type AgentTuning, type LockerAssignment, type ParentMessage, type WorkerStats } from './fleet-ipc.js';

// The parent's side of the worker processes: forks them, hands each its share of the
// lockers, routes operations to the worker that holds a locker and their outcomes back,
// and stops them — gracefully first, SIGKILL after a deadline, so none outlives the fleet.

const workerEntry = fileURLToPath(new URL('./fleet-worker.ts', import.meta.url));

export type OpOutcome = Omit<Extract<WorkerMessage, { type: 'op-done' }>, 'type' | 'opId'>;
type OpRequest = Extract<ParentMessage, { type: 'deposit' | 'pickup' }>;

class FleetWorker {
  private readonly pendingOps = new Map<number, (o: OpOutcome) => void>();
  private statsWaiters: Array<(s: WorkerStats) => void> = [];
  private startWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private stoppedWaiter: (() => void) | undefined;
  private stopping: Promise<void> | undefined;
  /** Exited, or never started (spawn failed: no 'exit' may follow). */
  private gone = false;
  readonly exited: Promise<void>;
  lastStats: WorkerStats | undefined;
  failures: string[] = [];

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    let exited = (): void => undefined;
    this.exited = new Promise((resolve) => (exited = resolve));
    const end = (why: string): void => {
      if (this.gone) return;
      this.gone = true;
      this.startWaiter?.reject(new Error(why));
      for (const done of this.pendingOps.values()) done({ ok: false, error: why });
      this.pendingOps.clear();
      exited();
    };
    child.on('message', (raw: unknown) => this.onMessage(raw));
    child.once('exit', (code, signal) => end(`worker ${String(index)} exited (${signal ?? String(code)})`));
    // A ChildProcess 'error' nobody listens to is thrown: the whole fleet would exit 1.
    child.on('error', (err) => {
      this.failures.push(`worker ${String(index)}: ${err.message}`);
      if (child.pid === undefined) end(`worker ${String(index)} did not start (${err.message})`);
    });
  }

  get running(): boolean {
    return !this.gone && this.child.exitCode === null && this.child.signalCode === null;
  }

  private onMessage(raw: unknown): void {
    const parsed = WorkerMessage.safeParse(raw);
    if (!parsed.success) {
      this.failures.push(`worker ${String(this.index)} sent a malformed message: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return;
    }
    const m = parsed.data;
    switch (m.type) {
      case 'started':
        this.startWaiter?.resolve();
        return;
      case 'failed':
        this.failures.push(m.error);
        this.startWaiter?.reject(new Error(`worker ${String(this.index)}: ${m.error}`));
        return;
      case 'op-done': {
        const done = this.pendingOps.get(m.opId);
        this.pendingOps.delete(m.opId);
        const { type: _t, opId: _o, ...outcome } = m;
        done?.(outcome);
        return;
      }
      case 'stats': {
        this.lastStats = m.stats;
        const waiters = this.statsWaiters;
        this.statsWaiters = [];
        for (const w of waiters) w(m.stats);
        return;
      }
      case 'stopped':
        this.stoppedWaiter?.();
        return;
    }
  }

  /**
   * Sends `m`, or calls `failed` (at most once, maybe later) when it cannot reach the worker.
   * A worker that has just stopped or died has closed its end of the channel before this
   * process reads the EOF (under load, a while before): the channel still looks connected
   * and the write fails with EPIPE. With a callback that failure comes here; without one
   * it is an 'error' event on the ChildProcess.
   */
  private send(m: ParentMessage, failed: (why: string) => void): void {
    if (!this.running || !this.child.connected) {
      failed(`worker ${String(this.index)} is not running`);
      return;
    }
    this.child.send(m, (err) => {
      if (err !== null) failed(`worker ${String(this.index)} is not running (${err.message})`);
    });
  }

  start(m: Extract<ParentMessage, { type: 'start' }>): Promise<void> {
    return new Promise((resolve, reject) => {
      this.startWaiter = { resolve, reject };
      this.send(m, (why) => reject(new Error(why)));
    });
  }

  op(m: OpRequest): Promise<OpOutcome> {
    return new Promise((resolve) => {
      this.pendingOps.set(m.opId, resolve);
      this.send(m, (why) => {
        if (this.pendingOps.delete(m.opId)) resolve({ ok: false, error: why });
      });
    });
  }

  stats(timeoutMs: number): Promise<WorkerStats | undefined> {
    return new Promise((resolve) => {
      const answer = (s: WorkerStats | undefined): void => {
        clearTimeout(timer);
        this.statsWaiters = this.statsWaiters.filter((w) => w !== answer);
        resolve(s);
      };
      const timer = setTimeout(() => answer(this.lastStats), timeoutMs);
      this.statsWaiters.push(answer);
      this.send({ type: 'stats' }, () => answer(this.lastStats));
    });
  }

  /** One stop per worker: a second call (the fleet's unwind after an abort's) waits for the first. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.stopOnce(graceMs);
    return this.stopping;
  }

  private async stopOnce(graceMs: number): Promise<void> {
    if (!this.running) return;
    const said = new Promise<void>((resolve) => {
      this.stoppedWaiter = resolve;
    });
    this.send({ type: 'stop' }, () => this.child.kill('SIGTERM'));
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await Promise.race([said.then(() => this.exited), this.exited]);
    clearTimeout(timer);
  }
}

export interface WorkerPoolOptions {
  workers: number;
  mqttUrl: string;
  dataDir: string;
  agent: AgentTuning;
  startConcurrency: number;
}

export class WorkerPool {
  private readonly byLocker = new Map<string, FleetWorker>();
  private nextOpId = 1;

  private constructor(private readonly workers: FleetWorker[]) {}

  /** Forks the workers (they start empty); `start` hands out the lockers. */
  static spawn(count: number): WorkerPool {
    const workers = Array.from({ length: count }, (_, i) => {
      const child = fork(workerEntry, [], {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, FLEET_WORKER: String(i) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      // If the parent dies without stopping them, the IPC channel closes and each worker stops
      // itself ('disconnect'); this covers the parent's own exit path too.
      const reap = (): void => {
        child.kill('SIGKILL');
      };
      process.once('exit', reap);
      child.once('exit', () => process.removeListener('exit', reap));
      return new FleetWorker(i, child);
    });
    return new WorkerPool(workers);
  }

  get pids(): number[] {
    return this.workers.flatMap((w) => (w.child.pid === undefined ? [] : [w.child.pid]));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Messages from workers that were malformed or reported a failure. */
  failures(): string[] {
    return this.workers.flatMap((w) => w.failures);
  }

  /** Deals the lockers out round-robin and waits until every worker has started its share. */
  async start(lockers: readonly LockerAssignment[], o: Omit<WorkerPoolOptions, 'workers'>): Promise<void> {
    const shares: LockerAssignment[][] = this.workers.map(() => []);
    lockers.forEach((l, i) => shares[i % shares.length]?.push(l));
    await Promise.all(
      this.workers.map((w, i) => {
        const share = shares[i] ?? [];
        for (const l of share) this.byLocker.set(l.id, w);
        return w.start({ type: 'start', mqttUrl: o.mqttUrl, dataDir: o.dataDir, lockers: share, agent: o.agent, startConcurrency: o.startConcurrency });
      }),
    );
  }

  deposit(lockerId: string, credential: string, shipmentId: string, compartmentId: string): Promise<OpOutcome> {
    return this.route(lockerId, { type: 'deposit', opId: this.nextOpId++, lockerId, credential, shipmentId, compartmentId });
  }

  pickup(lockerId: string, code: string, compartmentId: string): Promise<OpOutcome> {
    return this.route(lockerId, { type: 'pickup', opId: this.nextOpId++, lockerId, code, compartmentId });
  }

  private route(lockerId: string, m: OpRequest): Promise<OpOutcome> {
    const w = this.byLocker.get(lockerId);
    if (w === undefined) return Promise.resolve({ ok: false, error: `no worker holds ${lockerId}` });
    return w.op(m);
  }

  /** Every worker's figures, summed (a worker that does not answer in time counts with its last report). */
  async stats(timeoutMs = 2_000): Promise<WorkerStats & { perWorker: Array<WorkerStats | undefined> }> {
    const all = await Promise.all(this.workers.map((w) => w.stats(timeoutMs)));
    const sum = { lockers: 0, connected: 0, auditWritten: 0, auditAcked: 0, rssBytes: 0 };
    for (const s of all) {
      if (s === undefined) continue;
      sum.lockers += s.lockers;
      sum.connected += s.connected;
      sum.auditWritten += s.auditWritten;
      sum.auditAcked += s.auditAcked;
      sum.rssBytes += s.rssBytes;
    }
    return { ...sum, perWorker: all };
  }

  /** Asks every worker to stop its lockers and exit; SIGKILL for any still there after graceMs. */
  async stop(graceMs = 20_000): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop(graceMs)));
  }
}
