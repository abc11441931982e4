import { describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { deviceTimeClock } from './device-time-clock.js';

const T0 = Date.UTC(2026, 0, 1);

describe('deviceTimeClock', () => {
  it('tells confirmed device time, whatever the wall clock says', () => {
    const board = new FakeClock({ wallMs: T0 - 30 * 86_400_000 });
    expect(deviceTimeClock(board, () => T0).now()).toBe(T0);
  });

  it('tells the wall clock while device time is only provisional', () => {
    const board = new FakeClock({ wallMs: T0 });
    expect(deviceTimeClock(board, () => undefined).now()).toBe(T0);
  });

  it("runs timers and monotonic time on the board's clock", () => {
    const board = new FakeClock({ wallMs: T0 });
    const clock = deviceTimeClock(board, () => T0 + 1);
    let fired = 0;
    clock.setTimeout(() => (fired += 1), 100);
    const cancelled = clock.setTimeout(() => (fired += 10), 100);
    clock.clearTimeout(cancelled);
    board.advance(100);
    expect(fired).toBe(1);
    expect(clock.monotonicMs()).toBe(board.monotonicMs());
  });
});
