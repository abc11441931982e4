import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const policy = { initialMs: 100, maxMs: 5_000, jitter: 0.5 };

  it('doubles per attempt up to the cap', () => {
    expect([0, 1, 2, 3, 10, 1000].map((a) => backoffDelay(a, policy, 0))).toEqual([100, 200, 400, 800, 5_000, 5_000]);
  });

  it('takes off at most the jitter fraction', () => {
    expect(backoffDelay(3, policy, 0.999)).toBeGreaterThanOrEqual(400);
    expect(backoffDelay(3, policy, 0.5)).toBe(600);
  });
});
