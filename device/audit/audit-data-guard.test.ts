import { describe, expect, it } from 'vitest';
import { findSecretKey, redactSecretKeys } from './audit-data-guard.js';

describe('audit data guard', () => {
  it('finds keys named code, token or pin at any depth, whatever their case', () => {
    expect(findSecretKey({ a: 1, b: { c: [{ PIN: '1' }] } })).toBe('b.c[0].PIN');
    expect(findSecretKey({ token: 'x' })).toBe('token');
    expect(findSecretKey({ tokenId: 'x', codeDigest: 'y', compartmentId: 'z' })).toBeUndefined();
  });

  it('redacts the values of those keys and keeps everything else', () => {
    expect(redactSecretKeys({ code: '1234', n: 1, nested: [{ token: 't', ok: true }] })).toEqual({
      code: '[redacted]', n: 1, nested: [{ token: '[redacted]', ok: true }],
    });
  });
});
