import { describe, expect, it } from 'vitest';
import { LogThrottle, OVERFLOW_KEY } from './log-throttle.js';

describe('log throttle', () => {
  it('logs the first occurrence per key in a window and counts the rest into one summary', () => {
    const t = new LogThrottle(1_000);
    const verdicts = Array.from({ length: 10_000 }, (_, i) => t.hit(i % 2 === 0 ? 'garbage' : 'oversized', i / 100));
    expect(verdicts.filter((v) => v.log)).toHaveLength(2);
    expect(verdicts[0]?.log).toBe(true);
    expect(verdicts.some((v) => v.summary !== undefined)).toBe(false);
    expect(t.flush(999)).toBeUndefined();
    expect(t.flush(1_000)).toEqual({ suppressed: { garbage: 4_999, oversized: 4_999 }, windowMs: 1_000 });
    expect(t.flush(5_000)).toBeUndefined();
  });

  it('hands the ended window summary to the first hit of the next window, which is logged again', () => {
    const t = new LogThrottle(1_000);
    t.hit('framing', 0);
    t.hit('framing', 10);
    t.hit('framing', 20);
    expect(t.hit('framing', 1_500)).toEqual({ log: true, summary: { suppressed: { framing: 2 }, windowMs: 1_000 } });
    expect(t.hit('framing', 1_600)).toEqual({ log: false });
  });

  it('bounds the keys it remembers: keys beyond the cap share one counter', () => {
    const t = new LogThrottle(1_000, 3);
    const logged = Array.from({ length: 1_000 }, (_, i) => t.hit(`reason-${i}`, 0)).filter((v) => v.log);
    expect(logged).toHaveLength(4);
    const summary = t.flush(1_000);
    expect(Object.keys(summary?.suppressed ?? {})).toEqual([OVERFLOW_KEY]);
    expect(summary?.suppressed[OVERFLOW_KEY]).toBe(996);
  });

  it('logs the first occurrence of an important key although ordinary keys filled the cap', () => {
    const t = new LogThrottle(1_000, 3);
    for (let i = 0; i < 1_000; i++) t.hit(`reason-${i}`, 0);
    expect(t.hit('manifest-mismatch', 10, true)).toEqual({ log: true });
    expect(t.hit('manifest-mismatch', 20, true)).toEqual({ log: false });
    // Important keys do not use up the cap either.
    const u = new LogThrottle(1_000, 1);
    u.hit('signature-invalid', 0, true);
    expect(u.hit('not-json', 0)).toEqual({ log: true });
    expect(t.flush(1_000)?.suppressed).toEqual({ [OVERFLOW_KEY]: 996, 'manifest-mismatch': 1 });
  });

  it('ends the window when a wall clock steps back, instead of staying silent until it catches up', () => {
    const t = new LogThrottle(1_000);
    t.hit('schema', 10_000);
    t.hit('schema', 10_001);
    expect(t.hit('schema', 5_000)).toEqual({ log: true, summary: { suppressed: { schema: 1 }, windowMs: 1_000 } });
  });
});
