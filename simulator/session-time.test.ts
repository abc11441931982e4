import { afterEach, describe, expect, it } from 'vitest';
import { SessionTime } from './session-time.js';

const times: SessionTime[] = [];
afterEach(() => {
  for (const t of times.splice(0)) t.close();
});

function session(): SessionTime {
  const t = new SessionTime();
  times.push(t);
  return t;
}

describe('session time', () => {
  it('moves every clock forward together and fires pending timers in due order, each at its due time', async () => {
    const time = session();
    const a = time.clock();
    const b = time.clock();
    const start = a.monotonicMs();
    const fired: [string, number][] = [];
    a.setTimeout(() => fired.push(['a-10s', a.monotonicMs() - start]), 10_000);
    b.setTimeout(() => fired.push(['b-5s', b.monotonicMs() - start]), 5_000);
    a.setTimeout(() => fired.push(['a-2h', a.monotonicMs() - start]), 7_200_000);
    await time.advance(60_000);
    expect(fired.map(([name]) => name)).toEqual(['b-5s', 'a-10s']);
    // Each saw (about) its own due time, not the end of the jump; real time adds a little.
    expect(fired[0]?.[1]).toBeGreaterThanOrEqual(5_000);
    expect(fired[0]?.[1]).toBeLessThan(10_000);
    expect(fired[1]?.[1]).toBeGreaterThanOrEqual(10_000);
    expect(fired[1]?.[1]).toBeLessThan(60_000);
    expect(b.monotonicMs() - start).toBeGreaterThanOrEqual(60_000);
    expect(time.pendingTimers()).toBe(1);
  });

  it('runs a periodic timer once after a long jump, not once per period', async () => {
    const time = session();
    const clock = time.clock();
    let runs = 0;
    const tick = (): void => {
      runs++;
      clock.setTimeout(tick, 200);
    };
    clock.setTimeout(tick, 200);
    await time.advance(73 * 3_600_000);
    expect(runs).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runs).toBe(2);
  });

  it('skews one wall clock without moving monotonic time or the others, and never moves back', async () => {
    const time = session();
    const a = time.clock();
    const b = time.clock();
    a.jumpWall(-3_600_000);
    expect(b.now() - a.now()).toBeGreaterThanOrEqual(3_600_000 - 5);
    expect(Math.abs(a.monotonicMs() - b.monotonicMs())).toBeLessThan(5);
    expect(Number.isInteger(time.backendClock().now())).toBe(true);
    await expect(time.advance(-1)).rejects.toThrow(RangeError);
  });
});
