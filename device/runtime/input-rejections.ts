import type { InputRejection } from '@locker/hal/types.js';

// Counts input the drivers refused. The runtime logs the first rejection per reason in a
// window and a summary of the rest (contract log-throttle.ts); a burst (many within a
// window, as from a loose cable or someone feeding garbage) becomes one audit record per
// window rather than thousands.

export interface RejectionCounts {
  keypad: number;
  scanner: number;
}

export class InputRejections {
  readonly totals: RejectionCounts = { keypad: 0, scanner: 0 };
  private windowStart = -Infinity;
  private inWindow = 0;
  private reported = false;

  constructor(
    private readonly burstThreshold: number,
    private readonly windowMs: number,
  ) {}

  /** Returns true when this rejection makes the current window a burst (once per window). */
  record(rejection: InputRejection, monoNow: number): boolean {
    this.totals[rejection.source] += 1;
    if (monoNow - this.windowStart > this.windowMs) {
      this.windowStart = monoNow;
      this.inWindow = 0;
      this.reported = false;
    }
    this.inWindow += 1;
    if (!this.reported && this.inWindow >= this.burstThreshold) {
      this.reported = true;
      return true;
    }
    return false;
  }
}
