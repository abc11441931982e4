import type { Clock } from '@locker/hal/types.js';

/**
 * A clock whose now() is device time (docs/decisions/0019) and whose timers and monotonic
 * time are the board's. For components that take a Clock and judge signed validity with
 * now() — the sync agent checks a command's `exp` and a key's retirement with it: given the
 * wall clock, a board whose RTC was set back (a dead battery, an operator) would execute a
 * signed command whose validity ended long ago, or trust a retired key again.
 */
export function deviceTimeClock(board: Clock, deviceNow: () => number): Clock {
  return {
    now: deviceNow,
    monotonicMs: () => board.monotonicMs(),
    setTimeout: (callback, ms) => board.setTimeout(callback, ms),
    clearTimeout: (handle) => board.clearTimeout(handle),
  };
}
