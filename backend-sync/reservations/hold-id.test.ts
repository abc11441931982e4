import { describe, expect, it } from 'vitest';
import { newHoldId } from './hold-id.js';

describe('hold ids', () => {
  it('sort by creation time, also across a change in the number of digits', () => {
    const times = [0, 35, 36, 1_800_000_000_000, 1_800_000_000_001, 2_000_000_000_000];
    const ids = times.map((t) => newHoldId(t));
    expect([...ids].sort()).toEqual(ids);
  });

  it('differ within one millisecond and fit the reservation id route parameter', () => {
    // More than one pool of random bytes (256 ids), so a refill is crossed.
    const ids = Array.from({ length: 1000 }, () => newHoldId(1_800_000_000_000));
    expect(new Set(ids).size).toBe(1000);
    expect(new Set(ids.map((id) => id.slice(-16))).size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^res_[0-9a-z]{9}[A-Za-z0-9_-]{16}$/);
  });
});
