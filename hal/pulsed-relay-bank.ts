import type { Logger } from 'pino';
import { HalError } from './hal-error.js';
import type { Clock, RelayBank, TimerHandle } from './types.js';

/** What a concrete relay driver must do: switch one relay, synchronously. */
export interface RelayOutputs {
  /** Energise. Throws if the relay could not be driven. */
  on(compartmentId: string): void;
  /** De-energise. Throws if the relay could not be driven. */
  off(compartmentId: string): void;
}

export interface PulseRecord {
  compartmentId: string;
  requestedMs: number;
  actualMs: number;
  /** Clock.now() when the relay was energised (or the attempt failed). */
  startedAt: number;
  /** Clock.now() when the relay was off again; undefined while it is energised. */
  endedAt: number | undefined;
  /** 'cut-short': the bank was closed mid-pulse (the relay was switched off early). */
  outcome: 'in-progress' | 'ok' | 'fault' | 'cut-short';
}

export interface PulsedRelayBankOptions {
  compartments: readonly string[];
  maxPulseMs: number;
  clock: Clock;
  outputs: RelayOutputs;
  logger?: Logger;
  /**
   * Called when a pulse starts, with a record the bank updates in place when it ends
   * (the simulator keeps them; the real bank keeps no history).
   */
  onPulseStarted?: (record: PulseRecord) => void;
}

interface InFlight {
  job: PulseJob;
  record: PulseRecord;
  timer: TimerHandle;
}

interface PulseJob {
  requestedMs: number;
  actualMs: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Clamps a requested duration to [1, max]; NaN counts as the minimum, never the max. */
export function clampPulseMs(ms: number, maxPulseMs: number): number {
  if (Number.isNaN(ms)) return 1;
  return Math.min(maxPulseMs, Math.max(1, Math.round(ms)));
}

/**
 * The relay logic shared by the GPIO and the simulated bank: clamping, per-compartment
 * serialisation and a clock timer that always switches the relay off. A solenoid left
 * energised burns out and leaves a door unlocked, so the off path runs whatever happens.
 * Jobs start synchronously when the compartment is idle, which keeps the bank fully
 * driveable by FakeClock.advance() without awaiting in between.
 */
export class PulsedRelayBank implements RelayBank {
  readonly maxPulseMs: number;
  private readonly queues = new Map<string, PulseJob[]>();
  private readonly busy = new Set<string>();
  private readonly inFlight = new Map<string, InFlight>();
  private closed = false;

  constructor(private readonly options: PulsedRelayBankOptions) {
    if (!(options.maxPulseMs >= 1)) throw new RangeError('maxPulseMs must be >= 1');
    this.maxPulseMs = options.maxPulseMs;
    for (const id of options.compartments) this.queues.set(id, []);
  }

  compartments(): readonly string[] {
    return [...this.queues.keys()];
  }

  isBusy(compartmentId: string): boolean {
    return this.busy.has(compartmentId);
  }

  pulse(compartmentId: string, ms: number): Promise<void> {
    const queue = this.queues.get(compartmentId);
    if (queue === undefined) {
      return Promise.reject(
        new HalError('RELAY_UNKNOWN_COMPARTMENT', `no relay for compartment ${compartmentId}`, { energised: false }),
      );
    }
    if (this.closed) return Promise.reject(new HalError('HAL_CLOSED', 'relay bank is closed', { energised: false }));
    return new Promise<void>((resolve, reject) => {
      queue.push({ requestedMs: ms, actualMs: clampPulseMs(ms, this.maxPulseMs), resolve, reject });
      if (!this.busy.has(compartmentId)) this.runNext(compartmentId);
    });
  }

  allOff(): Promise<void> {
    for (const id of this.queues.keys()) this.safeOff(id);
    return Promise.resolve();
  }

  /**
   * Switches everything off and rejects every pulse not yet finished with HAL_CLOSED: a
   * pulse cut short did not do what was asked, and no timer may outlive the bank. The error
   * says whether the relay had been energised: a queued pulse never was (`energised:
   * false`), a pulse cut short was, and its door may have unlocked (`energised: true`).
   */
  close(): Promise<void> {
    this.closed = true;
    const closedError = (energised: boolean): HalError =>
      new HalError('HAL_CLOSED', energised ? 'relay bank closed mid-pulse' : 'relay bank closed', { energised });
    for (const queue of this.queues.values()) {
      for (const job of queue.splice(0)) job.reject(closedError(false));
    }
    const result = this.allOff();
    for (const [id, flight] of this.inFlight) {
      this.options.clock.clearTimeout(flight.timer);
      flight.record.endedAt = this.options.clock.now();
      flight.record.outcome = 'cut-short';
      flight.job.reject(closedError(true));
      this.busy.delete(id);
    }
    this.inFlight.clear();
    return result;
  }

  private runNext(id: string): void {
    const job = this.closed ? undefined : this.queues.get(id)?.shift();
    if (job === undefined) {
      this.busy.delete(id);
      return;
    }
    this.busy.add(id);
    const { clock, outputs } = this.options;
    const record: PulseRecord = {
      compartmentId: id,
      requestedMs: job.requestedMs,
      actualMs: job.actualMs,
      startedAt: clock.now(),
      endedAt: undefined,
      outcome: 'in-progress',
    };
    this.options.onPulseStarted?.(record);
    // `energised`: the off path failed after a full pulse, so the door may have unlocked.
    const finish = (outcome: 'ok' | 'fault', error?: unknown, energised = false): void => {
      this.inFlight.delete(id);
      record.endedAt = clock.now();
      record.outcome = outcome;
      if (outcome === 'ok') job.resolve();
      else job.reject(new HalError('RELAY_FAULT', `relay ${id} could not be driven`, { cause: error, energised }));
      this.runNext(id);
    };
    try {
      outputs.on(id);
    } catch (error) {
      this.safeOff(id);
      this.options.logger?.error({ compartmentId: id, err: error }, 'relay.on_failed');
      record.actualMs = 0;
      finish('fault', error);
      return;
    }
    const timer = clock.setTimeout(() => {
      try {
        outputs.off(id);
        finish('ok');
      } catch (error) {
        this.options.logger?.error({ compartmentId: id, err: error }, 'relay.off_failed');
        // One retry: a transient sysfs error must not leave the solenoid energised.
        this.safeOff(id);
        finish('fault', error, true);
      }
    }, job.actualMs);
    this.inFlight.set(id, { job, record, timer });
  }

  private safeOff(id: string): void {
    try {
      this.options.outputs.off(id);
    } catch (error) {
      this.options.logger?.error({ compartmentId: id, err: error }, 'relay.off_failed');
    }
  }
}
