import { describe, expect, it } from 'vitest';
import { ifNoneMatchHits } from './if-none-match.js';

describe('If-None-Match (weak comparison, RFC 9110)', () => {
  const tag = '"abc123"';
  it.each([
    ['"abc123"', true],
    ['W/"abc123"', true],
    ['"other", "abc123"', true],
    ['"abc123","other"', true],
    ['W/"x" , W/"abc123"', true],
    ['*', true],
    [' * ', true],
    ['"abc12"', false],
    ['"abc1234"', false],
    ['abc123', false],
    ['', false],
    ['"other"', false],
  ])('%s → %s', (header, hit) => {
    expect(ifNoneMatchHits(header, tag)).toBe(hit);
  });

  it('takes a repeated header as one list, and no header as no match', () => {
    expect(ifNoneMatchHits(['"x"', '"abc123"'], tag)).toBe(true);
    expect(ifNoneMatchHits(undefined, tag)).toBe(false);
  });
});
