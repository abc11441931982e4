import { SystemClock } from '@locker/hal/clock/system-clock.js';
import type { Clock } from '@locker/hal/types.js';

/** Real timers and monotonic time with the caller's notion of now (e.g. the runtime's device time). */
export function agentClock(now: () => number): Clock {
  const system = new SystemClock();
  return {
    now,
    monotonicMs: () => system.monotonicMs(),
    setTimeout: (callback, ms) => system.setTimeout(callback, ms),
    clearTimeout: (handle) => system.clearTimeout(handle),
  };
}
