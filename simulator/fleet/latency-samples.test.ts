import { describe, expect, it } from 'vitest';
import { fmtMs, LatencySamples } from './latency-samples.js';

describe('LatencySamples', () => {
  it('gives nearest-rank percentiles whatever order the samples came in', () => {
    const s = new LatencySamples();
    for (const v of [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]) s.add(v);
    expect(s.percentile(50)).toBe(5);
    expect(s.percentile(99)).toBe(10);
    expect(s.percentile(10)).toBe(1);
    s.add(0);
    expect(s.percentile(0)).toBe(0);
  });

  it('has no percentile before the first sample, shown as a dash', () => {
    const s = new LatencySamples();
    expect(s.percentile(99)).toBeUndefined();
    expect(fmtMs(s.percentile(99))).toBe('-');
    expect(fmtMs(3.14159)).toBe('3.1');
    expect(fmtMs(123.6)).toBe('124');
  });
});
