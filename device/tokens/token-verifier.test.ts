import { describe, expect, it } from 'vitest';
import { createEd25519 } from '@locker/contract/crypto/create-ed25519.js';
import { ed25519Kinds } from '@locker/contract/crypto/ed25519.js';
import type { TokenPurpose } from '@locker/contract/tokens/claims.js';
import { keyToText } from '@locker/contract/tokens/key-text.js';
import { Keyring } from '@locker/contract/tokens/keyring.js';
import { signV4Public } from '@locker/contract/tokens/paseto-v4-public.js';
import { TokenIssuer, type IssuableClaims } from '@locker/contract/tokens/token-issuer.js';
import { stillToCheck, verifyToken, type TokenRejection, type VerifyTokenInput } from './token-verifier.js';

const ed = createEd25519('node-crypto');
const lockerId = 'locker-berlin-0042';
const now = Date.parse('2026-11-22T12:00:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();
const hour = 3_600_000;

const kp = ed.generateKeyPair();
const issuer = new TokenIssuer({ ed, kid: 'k-20261122-main', seed: kp.seed, issuer: 'backend' });
const keyring = Keyring.fromRows(ed, [
  { kid: 'k-20261122-main', publicKey: keyToText(kp.publicKey), revoked: false },
  { kid: 'k-revoked', publicKey: keyToText(ed.generateKeyPair().publicKey), revoked: true },
]);

function claims(overrides: Partial<IssuableClaims> = {}): IssuableClaims {
  return {
    jti: 'tok_0123456789abcdef',
    purpose: 'pickup',
    iat: iso(now - hour),
    nbf: iso(now - hour),
    exp: iso(now + 48 * hour),
    cmp: 'A7',
    par: 'PARCEL-0042',
    ...overrides,
  };
}

const pickup = issuer.issue(lockerId, claims());
const input = (token: string, extra: Partial<VerifyTokenInput> = {}): VerifyTokenInput => ({ token, lockerId, now, purposes: ['pickup'], ...extra });
const reasonOf = (token: string, extra: Partial<VerifyTokenInput> = {}): TokenRejection | 'ok' => {
  const r = verifyToken(input(token, extra), keyring, ed);
  return r.ok ? 'ok' : r.reason;
};

describe('verifyToken', () => {
  it('accepts a pickup token issued for this locker and returns its claims and kid', () => {
    const result = verifyToken(input(pickup), keyring, ed);
    expect(result).toEqual({ ok: true, kid: 'k-20261122-main', claims: { ...claims(), iss: 'backend' } });
  });

  it('rejects a token issued for another locker as a bad signature', () => {
    expect(reasonOf(pickup, { lockerId: 'locker-paris-0001' })).toBe('bad-signature');
  });

  it('rejects a token forged with an untrusted key under a trusted kid', () => {
    const forger = new TokenIssuer({ ed, kid: 'k-20261122-main', seed: ed.generateKeyPair().seed, issuer: 'backend' });
    expect(reasonOf(forger.issue(lockerId, claims()))).toBe('bad-signature');
  });

  it('rejects a token whose kid is unknown, revoked or retired', () => {
    const other = ed.generateKeyPair().seed;
    expect(reasonOf(new TokenIssuer({ ed, kid: 'k-nobody', seed: other, issuer: 'backend' }).issue(lockerId, claims()))).toBe('unknown-key');
    expect(reasonOf(new TokenIssuer({ ed, kid: 'k-revoked', seed: other, issuer: 'backend' }).issue(lockerId, claims()))).toBe('revoked-key');
    const retiring = keyring.apply({ op: 'trust', kid: 'k-20261122-main', publicKey: keyToText(kp.publicKey), notAfter: now - 1 }).keyring;
    const r = verifyToken(input(pickup), retiring, ed);
    expect(r.ok ? 'ok' : r.reason).toBe('retired-key');
  });

  it('rejects expired tokens at exp exactly, with no leeway by default', () => {
    const token = issuer.issue(lockerId, claims({ exp: iso(now) }));
    expect(reasonOf(token)).toBe('expired');
    expect(reasonOf(token, { now: now - 1 })).toBe('ok');
    expect(verifyToken(input(token), keyring, ed, { nbfSkewMs: 60_000, expLeewayMs: 1000 }).ok).toBe(true);
  });

  it('names the token id of a genuine token outside its window, and of no forged one', () => {
    const expired = issuer.issue(lockerId, claims({ exp: iso(now - hour), nbf: iso(now - 2 * hour), iat: iso(now - 2 * hour) }));
    expect(verifyToken(input(expired), keyring, ed)).toEqual({ ok: false, reason: 'expired', tokenId: 'tok_0123456789abcdef' });
    const early = issuer.issue(lockerId, claims({ nbf: iso(now + hour) }));
    expect(verifyToken(input(early), keyring, ed)).toEqual({ ok: false, reason: 'not-yet-valid', tokenId: 'tok_0123456789abcdef' });
    const forger = new TokenIssuer({ ed, kid: 'k-20261122-main', seed: ed.generateKeyPair().seed, issuer: 'backend' });
    const forged = forger.issue(lockerId, claims({ exp: iso(now - hour), nbf: iso(now - 2 * hour), iat: iso(now - 2 * hour) }));
    expect(verifyToken(input(forged), keyring, ed)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('rejects a token before nbf beyond the clock-skew allowance of 60 seconds', () => {
    const token = issuer.issue(lockerId, claims({ nbf: iso(now + 60_000) }));
    expect(reasonOf(token)).toBe('ok');
    expect(reasonOf(token, { now: now - 1 })).toBe('not-yet-valid');
    expect(verifyToken(input(token), keyring, ed, { nbfSkewMs: 0, expLeewayMs: 0 }).ok).toBe(false);
  });

  it('fails closed when the time is not a number', () => {
    expect(reasonOf(pickup, { now: Number.NaN })).not.toBe('ok');
  });

  it('rejects a token presented for a purpose the caller does not accept', () => {
    const courier = issuer.issue(lockerId, claims({ purpose: 'courier', cmp: undefined, sub: 'courier-7' }));
    expect(reasonOf(courier)).toBe('wrong-purpose');
    const purposes: TokenPurpose[] = ['courier', 'service'];
    expect(reasonOf(courier, { purposes })).toBe('ok');
    expect(reasonOf(pickup, { purposes: [] })).toBe('wrong-purpose');
  });

  it('rejects well-signed payloads that are not valid claims, only after checking the signature', () => {
    const signer = ed.importPrivateKey(kp.seed);
    const footer = '{"kid":"k-20261122-main"}';
    const sign = (payload: string): string => signV4Public(ed, signer, new TextEncoder().encode(payload), footer, lockerId);
    expect(reasonOf(sign('not json'))).toBe('bad-claims');
    expect(reasonOf(sign(JSON.stringify({ ...claims(), iss: 'backend', extra: 1 })))).toBe('bad-claims');
    expect(reasonOf(sign(JSON.stringify({ ...claims(), iss: 'backend', cmp: undefined })))).toBe('bad-claims');
    expect(reasonOf(signV4Public(ed, signer, Uint8Array.from([0xff, 0xfe]), footer, lockerId))).toBe('bad-claims');
    // The same garbage under a wrong signature is a signature failure, not a claims failure.
    expect(reasonOf(sign('not json'), { lockerId: 'locker-x' })).toBe('bad-signature');
  });

  it('rejects tokens whose footer is missing or not a kid footer as malformed', () => {
    const signer = ed.importPrivateKey(kp.seed);
    const msg = new TextEncoder().encode(JSON.stringify({ ...claims(), iss: 'backend' }));
    for (const footer of ['', 'k-20261122-main', '{"kid":"k-20261122-main","x":1}', '{"kid":""}', '[]']) {
      expect(reasonOf(signV4Public(ed, signer, msg, footer, lockerId)), footer).toBe('malformed');
    }
  });

  it('rejects malformed and oversized inputs without throwing', () => {
    const cases: Array<[unknown, TokenRejection]> = [
      ['', 'malformed'],
      ['v4.public.', 'malformed'],
      [pickup.replace('v4.public.', 'v4.local.'), 'malformed'],
      [pickup.replace('v4.public.', 'v3.public.'), 'malformed'],
      [`${pickup.split('.').slice(0, 3).join('.')}==.${pickup.split('.')[3]!}`, 'malformed'],
      [`${pickup}=`, 'malformed'],
      [`${pickup}é`, 'malformed'],
      ['ünïcødé ✓', 'malformed'],
      [`v4.public.${'A'.repeat(3000)}`, 'oversized'],
      ['x'.repeat(10_000_000), 'oversized'],
      [undefined, 'malformed'],
      [42, 'malformed'],
    ];
    for (const [token, reason] of cases) {
      const r = verifyToken({ token: token as string, lockerId, now, purposes: ['pickup'] }, keyring, ed);
      expect(r.ok ? 'ok' : r.reason).toBe(reason);
    }
  });

  it('rejects the token with any single character changed, at every position', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    for (let i = 0; i < pickup.length; i++) {
      const c = pickup[i]!;
      const replacement = alphabet[(alphabet.indexOf(c) + 1 + (i % 7)) % alphabet.length]!;
      const mutated = pickup.slice(0, i) + replacement + pickup.slice(i + 1);
      expect(reasonOf(mutated), `position ${i}`).not.toBe('ok');
    }
  });

  it('rejects the token with any byte of its payload or footer flipped', () => {
    const [, , body, footer] = pickup.split('.') as [string, string, string, string];
    for (const [segment, at] of [[body, 2], [footer, 3]] as const) {
      const bytes = Buffer.from(segment, 'base64url');
      for (let i = 0; i < bytes.length; i++) {
        const copy = Buffer.from(bytes);
        copy[i] = copy[i]! ^ 0x01;
        const parts = pickup.split('.');
        parts[at] = copy.toString('base64url');
        const reason = reasonOf(parts.join('.'));
        // Payload and signature bytes are covered by the signature; footer bytes also decide the key.
        if (at === 2) expect(reason, `payload byte ${i}`).toBe('bad-signature');
        else expect(['bad-signature', 'malformed', 'unknown-key'], `footer byte ${i}`).toContain(reason);
      }
    }
  });

  it('rejects every truncation and extension of the token', () => {
    for (let n = 0; n < pickup.length; n++) expect(reasonOf(pickup.slice(0, n)), `length ${n}`).not.toBe('ok');
    for (const tail of ['A', 'AA', 'AAAA', '.', '.e30', '\0']) expect(reasonOf(pickup + tail)).not.toBe('ok');
  });

  it('never throws on random input (fuzz)', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const chars = Array.from({ length: rand(300) }, () => String.fromCharCode(rand(4) === 0 ? rand(0x3000) : 32 + rand(95)));
      const prefix = ['v4.public.', '', 'v4.public', pickup.slice(0, rand(pickup.length))][rand(4)]!;
      const token = prefix + chars.join('');
      expect(() => verifyToken(input(token), keyring, ed)).not.toThrow();
      expect(verifyToken(input(token), keyring, ed).ok).toBe(false);
    }
  });

  it.each(ed25519Kinds)('agrees on the round trip and on a wrong locker with the %s adapter', (kind) => {
    const adapter = createEd25519(kind);
    const ring = Keyring.fromRows(adapter, [{ kid: 'k-20261122-main', publicKey: keyToText(kp.publicKey), revoked: false }]);
    const token = new TokenIssuer({ ed: adapter, kid: 'k-20261122-main', seed: kp.seed, issuer: 'backend' }).issue(lockerId, claims());
    expect(token).toBe(pickup);
    expect(verifyToken(input(token), ring, adapter).ok).toBe(true);
    const r = verifyToken(input(token, { lockerId: 'locker-other' }), ring, adapter);
    expect(r.ok ? 'ok' : r.reason).toBe('bad-signature');
  });
});

describe('stillToCheck', () => {
  it('asks for revocation, single use and compartment checks on a pickup token', () => {
    expect(stillToCheck({ ...claims(), iss: 'backend' })).toEqual({
      tokenId: 'tok_0123456789abcdef',
      checks: ['token-not-revoked', 'token-not-used', 'compartment-matches'],
    });
  });

  it('does not make a courier credential single use', () => {
    const { cmp: _cmp, ...rest } = claims();
    expect(stillToCheck({ ...rest, purpose: 'courier', iss: 'backend' }).checks).toEqual(['token-not-revoked']);
  });
});
