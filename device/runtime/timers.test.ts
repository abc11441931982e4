import { describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import { NamedTimers } from './timers.js';

describe('named timers', () => {
  const make = () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const timers = new NamedTimers(clock, (name, fn) => {
      fired.push(name);
      fn();
    });
    return { clock, timers, fired };
  };

  it('fires a timer once through the runner', () => {
    const { clock, timers, fired } = make();
    let calls = 0;
    timers.start('a', 100, () => calls++);
    clock.advance(100);
    clock.advance(1000);
    expect(calls).toBe(1);
    expect(fired).toEqual(['a']);
  });

  it('replaces a pending timer of the same name', () => {
    const { clock, timers } = make();
    const calls: number[] = [];
    timers.start('a', 100, () => calls.push(1));
    timers.start('a', 300, () => calls.push(2));
    clock.advance(1000);
    expect(calls).toEqual([2]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('cancels one name or all of them', () => {
    const { clock, timers } = make();
    let calls = 0;
    timers.start('a', 100, () => calls++);
    timers.start('b', 100, () => calls++);
    timers.cancel('a');
    clock.advance(200);
    expect(calls).toBe(1);
    timers.start('c', 100, () => calls++);
    timers.cancelAll();
    clock.advance(200);
    expect(calls).toBe(1);
  });
});
