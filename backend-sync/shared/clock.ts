// Time comes in through this interface so sweepers, expiries and tests can be driven by a
// fake clock; nothing in the backend calls Date.now() directly except systemClock.

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Wall time at process start advanced by the monotonic clock: never stepped (NTP, an
 * operator's `date -s`), only slewed. What DbAlignedClock advances by between measurements.
 * Whole milliseconds, as Date.now(): times go into integer columns and schemas. */
export const monotonicClock: Clock = { now: () => Math.floor(performance.timeOrigin + performance.now()) };

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
