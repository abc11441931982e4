import { describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { silentLogger } from '../logger.js';
import { EventLoopWatchdog, tickDecision, watchdogSettingsFromEnv } from './watchdog.js';

describe('watchdog settings from the environment', () => {
  it('ticks four times per WatchdogSec and calls a tick a quarter late a blocked loop', () => {
    expect(watchdogSettingsFromEnv({ WATCHDOG_USEC: '20000000' }, 42)).toEqual({ watchdogMs: 20_000, tickMs: 5_000, maxLagMs: 5_000 });
  });

  it('ignores a watchdog meant for another process (WATCHDOG_PID)', () => {
    expect(watchdogSettingsFromEnv({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '7' }, 42)).toBeUndefined();
    expect(watchdogSettingsFromEnv({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, 42)).toBeDefined();
  });

  it('has no watchdog when WATCHDOG_USEC is missing, zero or not a number', () => {
    expect(watchdogSettingsFromEnv({}, 42)).toBeUndefined();
    expect(watchdogSettingsFromEnv({ WATCHDOG_USEC: '0' }, 42)).toBeUndefined();
    expect(watchdogSettingsFromEnv({ WATCHDOG_USEC: '2e7' }, 42)).toBeUndefined();
  });
});

describe('event-loop watchdog', () => {
  it('pings when a tick fires on time and skips a tick that fired later than the threshold', () => {
    expect(tickDecision(1_000, 1_010, 250)).toEqual({ ping: true, lagMs: 10 });
    expect(tickDecision(1_000, 1_300, 250)).toEqual({ ping: false, lagMs: 300 });
  });

  it('pings at start and on every healthy tick, skips the tick after a block, and resumes', () => {
    const clock = new FakeClock();
    // A blocked loop: monotonic time moves on while no timer can fire.
    let blockedMs = 0;
    const blockable = {
      monotonicMs: () => clock.monotonicMs() + blockedMs,
      setTimeout: clock.setTimeout.bind(clock),
      clearTimeout: clock.clearTimeout.bind(clock),
    };
    let pings = 0;
    const watchdog = new EventLoopWatchdog({
      clock: blockable,
      settings: { watchdogMs: 1_000, tickMs: 250, maxLagMs: 250 },
      ping: () => (pings += 1),
      logger: silentLogger(),
    });
    watchdog.start();
    expect(pings).toBe(1);
    clock.advance(750);
    expect(pings).toBe(4);
    blockedMs = 2_000;
    clock.advance(250);
    expect(pings).toBe(4);
    clock.advance(250);
    expect(pings).toBe(5);
    watchdog.stop();
    clock.advance(5_000);
    expect(pings).toBe(5);
  });
});
