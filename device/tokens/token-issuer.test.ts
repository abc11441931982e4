import { describe, expect, it } from 'vitest';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { ed25519Kinds } from '@locker/contract/crypto/ed25519.js';
import { isContractError } from '@locker/contract/contract-error.js';
import { keyToText, publicKeyFromText, seedFromText } from '@locker/contract/tokens/key-text.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import { decodeV4Public, peekFooter } from '@locker/contract/tokens/paseto-v4-public.js';
import { TokenIssuer } from '@locker/contract/tokens/token-issuer.js';
import { verifyToken } from './token-verifier.js';

const now = Date.parse('2026-11-22T12:00:00Z');
const claims = {
  jti: 'svc_abcdefghijklmnop',
  purpose: 'service' as const,
  iat: new Date(now).toISOString(),
  nbf: new Date(now).toISOString(),
  exp: new Date(now + 3_600_000).toISOString(),
  sub: 'tech-17',
};

function code(fn: () => unknown): string {
  try {
    fn();
    return 'no-error';
  } catch (err) {
    return isContractError(err) ? err.code : 'foreign-error';
  }
}

describe.each(ed25519Kinds)('TokenIssuer with the %s adapter', (kind) => {
  const ed = createEd25519(kind);
  const { seed, publicKey } = ed.generateKeyPair();
  const issuer = new TokenIssuer({ ed, kid: 'k-20261122-abcd', seed, issuer: 'backend-eu' });

  it('issues a token the verifier accepts for the same locker', () => {
    const token = issuer.issue('locker-1', claims);
    const keyring = Keyring.fromRows(ed, [{ kid: 'k-20261122-abcd', publicKey: keyToText(publicKey), revoked: false }]);
    const result = verifyToken({ token, lockerId: 'locker-1', now, purposes: ['service'] }, keyring, ed);
    expect(result).toEqual({ ok: true, kid: 'k-20261122-abcd', claims: { ...claims, iss: 'backend-eu' } });
  });

  it('writes the kid footer and exposes the public key', () => {
    const token = issuer.issue('locker-1', claims);
    expect(peekFooter(token)).toBe('{"kid":"k-20261122-abcd"}');
    expect(Buffer.from(issuer.publicKey).equals(Buffer.from(publicKey))).toBe(true);
    expect(decodeV4Public(token).signature).toHaveLength(64);
  });

  it('refuses to sign invalid claims or an invalid locker id', () => {
    expect(code(() => issuer.issue('locker-1', { ...claims, exp: claims.nbf }))).toBe('TOKEN_CLAIMS');
    expect(code(() => issuer.issue('locker-1', { ...claims, purpose: 'pickup' }))).toBe('TOKEN_CLAIMS');
    expect(code(() => issuer.issue('Locker 1', claims))).toBe('TOKEN_CLAIMS');
  });

  it('refuses a bad kid or seed at construction', () => {
    expect(code(() => new TokenIssuer({ ed, kid: 'has space', seed, issuer: 'b' }))).toBe('CONFIG_INVALID');
    expect(code(() => new TokenIssuer({ ed, kid: 'k', seed: seed.subarray(1), issuer: 'b' }))).toBe('CONFIG_INVALID');
  });
});

describe('key text', () => {
  it('round-trips 32-byte keys as 43 base64url characters', () => {
    const raw = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const text = keyToText(raw);
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(publicKeyFromText(text)).toEqual(raw);
    expect(seedFromText(`${text}\n`)).toEqual(raw);
  });

  it('rejects keys of the wrong length or with padding', () => {
    const raw = keyToText(new Uint8Array(32));
    for (const bad of [`${raw}=`, raw.slice(1), keyToText(new Uint8Array(33)), '']) {
      expect(code(() => publicKeyFromText(bad))).toBe('CONFIG_INVALID');
    }
  });
});
