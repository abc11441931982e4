import { describe, expect, it } from 'vitest';
import { backoffDelay, reconnectDelay } from './backoff.js';

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

describe('reconnectDelay', () => {
  const policy = { initialMs: 500, maxMs: 60_000, jitter: 0.5, promptMaxMs: 1_000, promptWindowMs: 300_000 };

  it('stays within the prompt cap after losing a healthy connection, however many attempts failed', () => {
    expect([0, 1, 2, 5, 20].map((a) => reconnectDelay(a, policy, 0, 10_000))).toEqual([500, 1_000, 1_000, 1_000, 1_000]);
  });

  it('backs off exponentially when no healthy connection was lost, or long after it was', () => {
    expect(reconnectDelay(5, policy, 0, undefined)).toBe(16_000);
    expect(reconnectDelay(5, policy, 0, 300_000)).toBe(16_000);
  });
});
