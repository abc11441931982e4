import type { Logger } from 'pino';
import { HalError } from './hal-error.js';
import type { Clock, RelayBank } from './types.js';

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
  /** Clock.now() when the relay was off again. */
  endedAt: number;
  outcome: 'ok' | 'fault';
}

export interface PulsedRelayBankOptions {
  compartments: readonly string[];
  maxPulseMs: number;
  clock: Clock;
  outputs: RelayOutputs;
  logger?: Logger;
  /** Called once per pulse when it ends (the simulator records them). */
  onPulseEnded?: (record: PulseRecord) => void;
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
        new HalError('RELAY_UNKNOWN_COMPARTMENT', `no relay for compartment ${compartmentId}`),
      );
    }
    if (this.closed) return Promise.reject(new HalError('HAL_CLOSED', 'relay bank is closed'));
    return new Promise<void>((resolve, reject) => {
      queue.push({ requestedMs: ms, actualMs: clampPulseMs(ms, this.maxPulseMs), resolve, reject });
      if (!this.busy.has(compartmentId)) this.runNext(compartmentId);
    });
  }

  allOff(): Promise<void> {
    for (const id of this.queues.keys()) this.safeOff(id);
    return Promise.resolve();
  }

  /** Switches everything off and rejects queued (not yet started) pulses. */
  close(): Promise<void> {
    this.closed = true;
    for (const queue of this.queues.values()) {
      for (const job of queue.splice(0)) job.reject(new HalError('HAL_CLOSED', 'relay bank closed'));
    }
    return this.allOff();
  }

  private runNext(id: string): void {
    const job = this.queues.get(id)?.shift();
    if (job === undefined) {
      this.busy.delete(id);
      return;
    }
    this.busy.add(id);
    const { clock, outputs } = this.options;
    const startedAt = clock.now();
    const finish = (outcome: 'ok' | 'fault', error?: unknown): void => {
      this.options.onPulseEnded?.({
        compartmentId: id,
        requestedMs: job.requestedMs,
        actualMs: outcome === 'ok' ? job.actualMs : 0,
        startedAt,
        endedAt: clock.now(),
        outcome,
      });
      if (outcome === 'ok') job.resolve();
      else job.reject(new HalError('RELAY_FAULT', `relay ${id} could not be driven`, { cause: error }));
      this.runNext(id);
    };
    try {
      outputs.on(id);
    } catch (error) {
      this.safeOff(id);
      this.options.logger?.error({ compartmentId: id, err: error }, 'relay.on_failed');
      finish('fault', error);
      return;
    }
    clock.setTimeout(() => {
      try {
        outputs.off(id);
        finish('ok');
      } catch (error) {
        this.options.logger?.error({ compartmentId: id, err: error }, 'relay.off_failed');
        // One retry: a transient sysfs error must not leave the solenoid energised.
        this.safeOff(id);
        finish('fault', error);
      }
    }, job.actualMs);
  }

  private safeOff(id: string): void {
    try {
      this.options.outputs.off(id);
    } catch (error) {
      this.options.logger?.error({ compartmentId: id, err: error }, 'relay.off_failed');
    }
  }
}
