import { LatencySamples } from './latency-samples.js';
import { runParcel, type ParcelFlowDeps, type ParcelRecord } from './parcel-flow.js';
import type { OpOutcome } from './worker-pool.js';

// Paces the fleet's load: starts parcels so that deposits plus pickups come at `rate` per
// second, each at a locker with a compartment to spare (round-robin), until `durationS`
// is up or the run is aborted; then waits for the parcels in flight. A locker's slot is
// given back only once the backend shows the parcel collected, so a new hold never races
// the compartment being freed.

export interface LoadOptions {
  /** Deposits + pickups per second. */
  rate: number;
  durationS: number;
  /** Share of deposited parcels the customer collects (the rest stay in the locker). */
  pickupShare: number;
  /** Parcels in flight at most per locker (its compartments of the size). */
  slotsPerLocker: number;
  size: 'S' | 'M' | 'L' | 'XL';
  /** Distinguishes this run's order refs (an external backend keeps earlier runs). */
  runTag: string;
}

export interface LoadCounters {
  parcelsStarted: number;
  parcelsFailed: number;
  depositsOk: number;
  depositsFailed: number;
  pickupsOk: number;
  pickupsFailed: number;
  /** A parcel was due but every locker was full. */
  skippedFull: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const aborted = (signal: AbortSignal): Promise<void> =>
  new Promise((r) => {
    if (signal.aborted) r();
    else signal.addEventListener('abort', () => r(), { once: true });
  });

export class LoadDriver {
  readonly counters: LoadCounters = { parcelsStarted: 0, parcelsFailed: 0, depositsOk: 0, depositsFailed: 0, pickupsOk: 0, pickupsFailed: 0, skippedFull: 0 };
  readonly keypadToRelay = new LatencySamples();
  readonly parcels: ParcelRecord[] = [];
  /** The first errors, for the summary (all are counted). */
  readonly errors: string[] = [];
  private readonly inFlight = new Map<string, number>();
  private cursor = 0;
  private seq = 0;
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly lockerIds: readonly string[],
    private readonly deps: Omit<ParcelFlowDeps, 'hooks'>,
    private readonly o: LoadOptions,
  ) {}

  get opsDone(): number {
    return this.counters.depositsOk + this.counters.pickupsOk;
  }

  get errorCount(): number {
    return this.counters.parcelsFailed;
  }

  /** Runs the load until the duration is up, then drains what is in flight; on `signal` it returns at once. */
  async run(signal: AbortSignal): Promise<void> {
    const opsPerParcel = 1 + this.o.pickupShare;
    const intervalMs = (1000 * opsPerParcel) / this.o.rate;
    const start = performance.now();
    const end = start + this.o.durationS * 1000;
    for (let k = 0; !signal.aborted; k++) {
      const due = start + k * intervalMs;
      if (due >= end) break;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (signal.aborted) break;
      this.startParcel(k);
    }
    // Interrupted: parcels in flight end when their workers stop; nobody waits for them.
    const stop = aborted(signal);
    while (this.running.size > 0 && !signal.aborted) await Promise.race([...this.running, stop]);
  }

  private pickLocker(): string | undefined {
    for (let i = 0; i < this.lockerIds.length; i++) {
      const id = this.lockerIds[(this.cursor + i) % this.lockerIds.length];
      if (id !== undefined && (this.inFlight.get(id) ?? 0) < this.o.slotsPerLocker) {
        this.cursor = (this.cursor + i + 1) % this.lockerIds.length;
        return id;
      }
    }
    return undefined;
  }

  private startParcel(k: number): void {
    const lockerId = this.pickLocker();
    if (lockerId === undefined) {
      this.counters.skippedFull++;
      return;
    }
    this.inFlight.set(lockerId, (this.inFlight.get(lockerId) ?? 0) + 1);
    // Deterministic mix: parcel k is collected when the running share says so.
    const pickup = Math.floor((k + 1) * this.o.pickupShare) > Math.floor(k * this.o.pickupShare);
    const p: ParcelRecord = { tag: `${this.o.runTag}-${String(++this.seq)}`, lockerId, stage: 'started', pickup };
    this.parcels.push(p);
    this.counters.parcelsStarted++;
    const hooks = { opDone: (kind: 'deposit' | 'pickup', outcome: OpOutcome) => this.opDone(kind, outcome) };
    const run = runParcel({ ...this.deps, hooks }, p, this.o.size)
      .then(() => {
        // A parcel left in the locker keeps its compartment.
        if (p.stage === 'collected') this.inFlight.set(lockerId, (this.inFlight.get(lockerId) ?? 1) - 1);
      })
      .catch((err: unknown) => {
        p.error = err instanceof Error ? err.message : String(err);
        this.counters.parcelsFailed++;
        if (this.errors.length < 20) this.errors.push(`${p.tag} at ${lockerId} (${p.stage}): ${p.error}`);
      })
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private opDone(kind: 'deposit' | 'pickup', outcome: OpOutcome): void {
    if (kind === 'deposit') {
      if (outcome.ok) this.counters.depositsOk++;
      else this.counters.depositsFailed++;
    } else {
      if (outcome.ok) this.counters.pickupsOk++;
      else this.counters.pickupsFailed++;
      if (outcome.keypadToRelayMs !== undefined) this.keypadToRelay.add(outcome.keypadToRelayMs);
    }
  }
}
