import { describe, expect, it } from 'vitest';
import { CodeSetAccumulator } from './code-set-accumulator.js';
import { codeSetDigestOf, EMPTY_CODE_SET_DIGEST, toggleCodeSetDigest } from './code-set-digest.js';

const entries = Array.from({ length: 20 }, (_, i) => ({ tokenId: `token-id-${String(i).padStart(8, '0')}`, token: `v4.public.t${String(i)}` }));

describe('CodeSetAccumulator', () => {
  it('agrees with codeSetDigestOf and toggleCodeSetDigest', () => {
    const acc = new CodeSetAccumulator(EMPTY_CODE_SET_DIGEST);
    let viaToggle = EMPTY_CODE_SET_DIGEST;
    for (const e of entries) {
      acc.toggle(e.tokenId, e.token);
      viaToggle = toggleCodeSetDigest(viaToggle, e.tokenId, e.token);
    }
    expect(acc.hex()).toBe(codeSetDigestOf(entries));
    expect(acc.hex()).toBe(viaToggle);
  });

  it('removes an entry by toggling it again', () => {
    const acc = new CodeSetAccumulator(codeSetDigestOf(entries));
    acc.toggle(entries[3]!.tokenId, entries[3]!.token);
    expect(acc.hex()).toBe(codeSetDigestOf(entries.filter((_, i) => i !== 3)));
  });

  it('combines a precomputed XOR of hashes', () => {
    const acc = new CodeSetAccumulator(codeSetDigestOf(entries.slice(0, 10)));
    acc.xor(Buffer.from(codeSetDigestOf(entries.slice(10)), 'hex'));
    expect(acc.hex()).toBe(codeSetDigestOf(entries));
  });

  it('refuses a digest that is not 32 bytes of hex', () => {
    expect(() => new CodeSetAccumulator('abc')).toThrow(RangeError);
  });
});
