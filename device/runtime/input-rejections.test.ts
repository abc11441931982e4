import { describe, expect, it } from 'vitest';
import type { InputRejection } from '@locker/hal/types.js';
import { InputRejections } from './input-rejections.js';

const garbage = (source: InputRejection['source']): InputRejection => ({ source, reason: 'garbage', length: 3, at: 0 });

describe('input rejections', () => {
  it('counts every rejection per source', () => {
    const r = new InputRejections(5, 1000);
    r.record(garbage('keypad'), 0);
    r.record(garbage('scanner'), 1);
    r.record(garbage('scanner'), 2);
    expect(r.totals).toEqual({ keypad: 1, scanner: 2 });
  });

  it('reports a burst once per window', () => {
    const r = new InputRejections(3, 1000);
    const bursts = Array.from({ length: 10 }, (_, i) => r.record(garbage('keypad'), i));
    expect(bursts.filter(Boolean)).toHaveLength(1);
    expect(bursts[2]).toBe(true);
  });

  it('starts a new window after the window length', () => {
    const r = new InputRejections(2, 1000);
    r.record(garbage('keypad'), 0);
    expect(r.record(garbage('keypad'), 10)).toBe(true);
    expect(r.record(garbage('keypad'), 2000)).toBe(false);
    expect(r.record(garbage('keypad'), 2001)).toBe(true);
  });
});
