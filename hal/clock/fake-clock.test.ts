import { describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';

describe('FakeClock', () => {
  it('fires due timers in time order, ties in scheduling order', () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@20'), 20);
    clock.setTimeout(() => fired.push('a@10'), 10);
    clock.setTimeout(() => fired.push('c@20'), 20);
    clock.setTimeout(() => fired.push('late'), 31);
    clock.advance(30);
    expect(fired).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.pendingTimers()).toBe(1);
  });

  it('shows each timer the time it was due at, not the end of the advance', () => {
    const clock = new FakeClock({ wallMs: 1000, monotonicMs: 0 });
    const seen: Array<[number, number]> = [];
    clock.setTimeout(() => seen.push([clock.now(), clock.monotonicMs()]), 15);
    clock.advance(100);
    expect(seen).toEqual([[1015, 15]]);
    expect(clock.monotonicMs()).toBe(100);
    expect(clock.now()).toBe(1100);
  });

  it('fires timers scheduled by callbacks during the same advance when they fall due', () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.monotonicMs());
      if (fired.length < 5) clock.setTimeout(tick, 10);
    };
    clock.setTimeout(tick, 10);
    clock.advance(35);
    expect(fired).toEqual([10, 20, 30]);
    clock.advance(100);
    expect(fired).toEqual([10, 20, 30, 40, 50]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('runs a zero-delay timer on the next advance, even advance(0)', () => {
    const clock = new FakeClock();
    let fired = false;
    clock.setTimeout(() => (fired = true), 0);
    expect(fired).toBe(false);
    clock.advance(0);
    expect(fired).toBe(true);
  });

  it('never fires a cleared timer', () => {
    const clock = new FakeClock();
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 5);
    clock.clearTimeout(handle);
    clock.advance(10);
    expect(fired).toBe(false);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('jumps the wall clock without moving monotonic time or firing timers', () => {
    const clock = new FakeClock({ wallMs: 1_000_000, monotonicMs: 50 });
    let fired = false;
    clock.setTimeout(() => (fired = true), 10);
    clock.jumpWall(-3_600_000);
    expect(clock.now()).toBe(1_000_000 - 3_600_000);
    expect(clock.monotonicMs()).toBe(50);
    expect(fired).toBe(false);
    clock.advance(10);
    expect(fired).toBe(true);
  });

  it('lets awaited code schedule timers between firings with advanceAsync', async () => {
    const clock = new FakeClock();
    const sleep = (ms: number): Promise<void> => new Promise((r) => clock.setTimeout(r, ms));
    const steps: number[] = [];
    const run = (async () => {
      for (let i = 0; i < 3; i++) {
        await sleep(10);
        steps.push(clock.monotonicMs());
      }
    })();
    await clock.advanceAsync(30);
    await run;
    expect(steps).toEqual([10, 20, 30]);
  });

  it('rejects a negative advance', () => {
    expect(() => new FakeClock().advance(-1)).toThrow(RangeError);
  });
});
