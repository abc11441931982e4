import { describe, expect, it } from 'vitest';
import { FakeClock } from './clock/fake-clock.js';
import { DoorDebouncer } from './door-debouncer.js';
import type { DoorState } from './types.js';

function setup(initial: DoorState = 'closed') {
  const clock = new FakeClock();
  const settled: Array<[DoorState, number]> = [];
  const debouncer = new DoorDebouncer({
    clock,
    debounceMs: 50,
    unstableAfterMs: 500,
    initial,
    onSettled: (s) => settled.push([s, clock.monotonicMs()]),
  });
  return { clock, debouncer, settled };
}

describe('door debouncer', () => {
  it('restarts the window on every raw change and settles 50 ms after the last one', () => {
    const { clock, debouncer, settled } = setup();
    debouncer.sample('open');
    clock.advance(30);
    debouncer.sample('closed');
    clock.advance(30);
    debouncer.sample('open');
    clock.advance(100);
    expect(settled).toEqual([['open', 110]]);
  });

  it('settles to unknown after 500 ms of bouncing, measured from the first change', () => {
    const { clock, debouncer, settled } = setup();
    for (let t = 0; t < 520; t += 10) {
      debouncer.sample(t % 20 === 0 ? 'open' : 'closed');
      clock.advance(10);
    }
    expect(settled).toEqual([['unknown', 500]]);
  });

  it('leaves unknown as soon as a reading holds for the debounce window', () => {
    const { clock, debouncer, settled } = setup('unknown');
    debouncer.sample('closed');
    clock.advance(50);
    expect(settled).toEqual([['closed', 50]]);
    expect(debouncer.state).toBe('closed');
  });

  it('cancels its timers on dispose', () => {
    const { clock, debouncer, settled } = setup();
    debouncer.sample('open');
    debouncer.dispose();
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(1000);
    expect(settled).toEqual([]);
  });
});
