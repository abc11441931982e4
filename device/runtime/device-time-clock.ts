import type { Clock } from '@locker/hal/types.js';

/**
 * A clock for components that judge signed validity with `now()` — the sync agent checks a
 * command's `exp` and a key's retirement with it. Its now() is confirmed device time
 * (docs/decisions/0019): given the wall clock, a board whose RTC was set back (a dead
 * battery, an operator) would execute a signed command whose validity ended long ago, or
 * trust a retired key again. While device time is only provisional (no signed time yet)
 * it is no better than the wall, and the wall may since have been corrected (NTP): the wall
 * decides until the first signed time, so a board whose first reading was wrong (2038)
 * can still accept the seal that corrects it. Timers and monotonic time are the board's.
 */
export function deviceTimeClock(board: Clock, confirmedNow: () => number | undefined): Clock {
  return {
    now: () => confirmedNow() ?? board.now(),
    monotonicMs: () => board.monotonicMs(),
    setTimeout: (callback, ms) => board.setTimeout(callback, ms),
    clearTimeout: (handle) => board.clearTimeout(handle),
  };
}
