import { describe, expect, it } from 'vitest';
import { SystemClock } from './system-clock.js';

// The only clock test on real time: it checks the wiring to Node's timers, with 1 ms waits.
describe('SystemClock', () => {
  it('fires a timer and never fires a cleared one', async () => {
    const clock = new SystemClock();
    const fired: string[] = [];
    const cleared = clock.setTimeout(() => fired.push('cleared'), 1);
    clock.clearTimeout(cleared);
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 2));
    expect(fired).toEqual([]);
  });

  it('reads wall time from Date.now and a monotonic time that never goes back', () => {
    const clock = new SystemClock();
    const before = Date.now();
    expect(clock.now()).toBeGreaterThanOrEqual(before);
    const a = clock.monotonicMs();
    expect(clock.monotonicMs()).toBeGreaterThanOrEqual(a);
  });
});
