import { describe, expect, it } from 'vitest';
import { SeededRandom, cryptoRandom } from './random.js';

describe('random sources', () => {
  it('SeededRandom gives the same bytes for the same seed and different ones otherwise', () => {
    expect(new SeededRandom(42).bytes(16)).toEqual(new SeededRandom(42).bytes(16));
    expect(new SeededRandom(42).bytes(16)).not.toEqual(new SeededRandom(43).bytes(16));
  });

  it('cryptoRandom returns the requested number of bytes', () => {
    const bytes = cryptoRandom().bytes(32);
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.length).toBe(32);
  });
});
