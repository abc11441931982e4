import type { Clock, DoorState, TimerHandle } from './types.js';

export interface DoorDebouncerOptions {
  clock: Clock;
  /** The raw input must be stable this long before a change is reported. */
  debounceMs: number;
  /**
   * If the raw input keeps changing without ever settling for this long, the sensor is
   * not trustworthy and the state becomes 'unknown'.
   */
  unstableAfterMs: number;
  /** The state before any change settles (the first raw reading). */
  initial: DoorState;
  onSettled: (state: DoorState) => void;
}

/**
 * Debounces one door input with the injected clock, shared by the simulated and the GPIO
 * sensors so both report identically.
 *
 * Semantics: a raw change is reported only once the input has held the new value for
 * `debounceMs`; shorter blips (contact bounce) produce no change at all. An input that
 * keeps bouncing for `unstableAfterMs` without a stable window settles to 'unknown' (so
 * the door supervisor sees a broken sensor rather than a frozen last value), and leaves
 * 'unknown' as soon as it holds still for `debounceMs` again.
 */
export class DoorDebouncer {
  private settled: DoorState;
  private raw: DoorState;
  private settleTimer: TimerHandle | undefined;
  private unstableTimer: TimerHandle | undefined;

  constructor(private readonly options: DoorDebouncerOptions) {
    this.settled = options.initial;
    this.raw = options.initial;
  }

  get state(): DoorState {
    return this.settled;
  }

  sample(raw: DoorState): void {
    if (raw === this.raw) return;
    this.raw = raw;
    const { clock } = this.options;
    if (this.settleTimer !== undefined) clock.clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    if (raw === this.settled) {
      // Back to the reported value before the window closed: a blip, nothing to report.
      // The unstable timer keeps running so a bounce around the settled value still counts.
      this.settleTimer = clock.setTimeout(() => this.settle(raw), this.options.debounceMs);
      return;
    }
    this.settleTimer = clock.setTimeout(() => this.settle(raw), this.options.debounceMs);
    this.unstableTimer ??= clock.setTimeout(() => {
      this.unstableTimer = undefined;
      this.settle('unknown');
    }, this.options.unstableAfterMs);
  }

  dispose(): void {
    if (this.settleTimer !== undefined) this.options.clock.clearTimeout(this.settleTimer);
    if (this.unstableTimer !== undefined) this.options.clock.clearTimeout(this.unstableTimer);
    this.settleTimer = undefined;
    this.unstableTimer = undefined;
  }

  private settle(state: DoorState): void {
    const { clock } = this.options;
    if (state !== 'unknown' || this.raw === 'unknown') {
      // A stable window ends the unstable period.
      if (this.settleTimer !== undefined) clock.clearTimeout(this.settleTimer);
      if (this.unstableTimer !== undefined) clock.clearTimeout(this.unstableTimer);
      this.settleTimer = undefined;
      this.unstableTimer = undefined;
    }
    if (state === this.settled) return;
    this.settled = state;
    this.options.onSettled(state);
  }
}
