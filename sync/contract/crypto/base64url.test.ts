import { describe, expect, it } from 'vitest';
import { decodeBase64UrlStrict, encodeBase64Url } from './base64url.js';

describe('strict base64url', () => {
  it('round-trips every length from 0 to 40 bytes', () => {
    for (let n = 0; n <= 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      const text = encodeBase64Url(bytes);
      expect(text).not.toMatch(/[=+/]/);
      expect(Buffer.from(decodeBase64UrlStrict(text)!).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('rejects padding, standard-alphabet characters, whitespace and non-ASCII', () => {
    for (const bad of ['AA==', 'AAA=', 'A+A_', 'A/AA', 'AA AA', 'AAAA\n', 'AAé', '%41']) {
      expect(decodeBase64UrlStrict(bad)).toBeUndefined();
    }
  });

  it('rejects an impossible length and non-zero trailing bits', () => {
    expect(decodeBase64UrlStrict('A')).toBeUndefined();
    expect(decodeBase64UrlStrict('AAAAA')).toBeUndefined();
    expect(decodeBase64UrlStrict('AA')).toEqual(new Uint8Array([0]));
    expect(decodeBase64UrlStrict('AB')).toBeUndefined();
    expect(decodeBase64UrlStrict('AAB')).toBeUndefined();
  });
});
