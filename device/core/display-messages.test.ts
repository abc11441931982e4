import { describe, expect, it } from 'vitest';
import { lockedMessage } from './display-messages.js';

describe('lockout message', () => {
  it('says 30 s for the first 30 s lockout, not 1 min', () => {
    expect(lockedMessage(30_000).text).toBe('Keypad locked after too many wrong codes. Try again in 30 s.');
  });

  it('rounds seconds up so the keypad is never still locked when the text says it is free', () => {
    expect(lockedMessage(12_001).text).toContain('in 13 s.');
    expect(lockedMessage(1).text).toContain('in 1 s.');
    expect(lockedMessage(0).text).toContain('in 1 s.');
  });

  it('says whole minutes, rounded up, from one minute on', () => {
    expect(lockedMessage(60_000).text).toContain('in 1 min.');
    expect(lockedMessage(60_001).text).toContain('in 2 min.');
    expect(lockedMessage(900_000).text).toContain('in 15 min.');
  });
});
