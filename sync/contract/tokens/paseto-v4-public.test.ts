import { describe, expect, it } from 'vitest';
import { createEd25519 } from '../crypto/create-ed25519.js';
import { ed25519Kinds } from '../crypto/ed25519.js';
import { isContractError, type ContractErrorCode } from '../contract-error.js';
import { MAX_TOKEN_LENGTH, decodeV4Public, pae, peekFooter, signV4Public, verifyV4Public } from './paseto-v4-public.js';

// Official vectors 4-S-1..3 (paseto-standard/test-vectors v4.json), copied here so the
// tests stand alone. The secret key is seed || public key; we sign with the seed.
const publicKeyHex = '1eb9dbbbbc047c03fd70604e0071f0987e16b28b757225c11f00415d0e20b1a2';
const seedHex = 'b4cbfb43df4ce210727d953e4a713307fa19bb7d9f85041438d9e11b942a3774';
const payload = '{"data":"this is a signed message","exp":"2022-01-01T00:00:00+00:00"}';
const vectorFooter = '{"kid":"zVhMiPBP9fRf2snEcT7gFTioeA9COcNy9DfgL1W60haN"}';
const vectors = [
  {
    name: '4-S-1',
    footer: '',
    implicitAssertion: '',
    token:
      'v4.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAyMi0wMS0wMVQwMDowMDowMCswMDowMCJ9bg_XBBzds8lTZShVlwwKSgeKpLT3yukTw6JUz3W4h_ExsQV-P0V54zemZDcAxFaSeef1QlXEFtkqxT1ciiQEDA',
  },
  {
    name: '4-S-2',
    footer: vectorFooter,
    implicitAssertion: '',
    token:
      'v4.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAyMi0wMS0wMVQwMDowMDowMCswMDowMCJ9v3Jt8mx_TdM2ceTGoqwrh4yDFn0XsHvvV_D0DtwQxVrJEBMl0F2caAdgnpKlt4p7xBnx1HcO-SPo8FPp214HDw.eyJraWQiOiJ6VmhNaVBCUDlmUmYyc25FY1Q3Z0ZUaW9lQTlDT2NOeTlEZmdMMVc2MGhhTiJ9',
  },
  {
    name: '4-S-3',
    footer: vectorFooter,
    implicitAssertion: '{"test-vector":"4-S-3"}',
    token:
      'v4.public.eyJkYXRhIjoidGhpcyBpcyBhIHNpZ25lZCBtZXNzYWdlIiwiZXhwIjoiMjAyMi0wMS0wMVQwMDowMDowMCswMDowMCJ9NPWciuD3d0o5eXJXG5pJy-DiVEoyPYWs1YSTwWHNJq6DZD3je5gf-0M4JR9ipdUSJbIovzmBECeaWmaqcaP0DQ.eyJraWQiOiJ6VmhNaVBCUDlmUmYyc25FY1Q3Z0ZUaW9lQTlDT2NOeTlEZmdMMVc2MGhhTiJ9',
  },
];

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function errorCode(fn: () => unknown): ContractErrorCode | 'no-error' | 'foreign-error' {
  try {
    fn();
    return 'no-error';
  } catch (err) {
    return isContractError(err) ? err.code : 'foreign-error';
  }
}

describe('PAE', () => {
  it('encodes counts and lengths as 64-bit little-endian as the spec examples show', () => {
    expect(Buffer.from(pae([])).toString('hex')).toBe('0000000000000000');
    expect(Buffer.from(pae([new Uint8Array(0)])).toString('hex')).toBe('01000000000000000000000000000000');
    expect(Buffer.from(pae([utf8('test')])).toString('hex')).toBe('0100000000000000040000000000000074657374');
  });
});

describe.each(ed25519Kinds)('PASETO v4.public with the %s adapter', (kind) => {
  const ed = createEd25519(kind);
  const signer = ed.importPrivateKey(hex(seedHex));
  const verifier = ed.importPublicKey(hex(publicKeyHex));

  it.each(vectors)('signs vector $name byte for byte', (v) => {
    expect(signV4Public(ed, signer, utf8(payload), v.footer, v.implicitAssertion)).toBe(v.token);
  });

  it.each(vectors)('verifies vector $name and returns its payload and footer', (v) => {
    const result = verifyV4Public(ed, verifier, v.token, v.implicitAssertion);
    expect(text(result.message)).toBe(payload);
    expect(result.footer).toBe(v.footer);
    expect(peekFooter(v.token)).toBe(v.footer);
  });

  it('rejects vector 4-S-3 under a different implicit assertion as a bad signature', () => {
    expect(errorCode(() => verifyV4Public(ed, verifier, vectors[2]!.token, ''))).toBe('TOKEN_SIGNATURE');
    expect(errorCode(() => verifyV4Public(ed, verifier, vectors[0]!.token, 'locker-2'))).toBe('TOKEN_SIGNATURE');
  });

  it('rejects a vector whose footer was swapped for another', () => {
    const [body] = vectors[1]!.token.split('.').slice(2);
    const swapped = `v4.public.${body!}.${Buffer.from('{"kid":"other"}').toString('base64url')}`;
    expect(errorCode(() => verifyV4Public(ed, verifier, swapped, ''))).toBe('TOKEN_SIGNATURE');
    const dropped = `v4.public.${body!}`;
    expect(errorCode(() => verifyV4Public(ed, verifier, dropped, ''))).toBe('TOKEN_SIGNATURE');
  });

  it('rejects a vector verified with another public key', () => {
    const other = ed.importPublicKey(ed.generateKeyPair().publicKey);
    expect(errorCode(() => verifyV4Public(ed, other, vectors[0]!.token, ''))).toBe('TOKEN_SIGNATURE');
  });
});

describe('PASETO v4.public strict parsing', () => {
  const ed = createEd25519('node-crypto');
  const verifier = ed.importPublicKey(hex(publicKeyHex));
  const good = vectors[1]!.token;
  const [, , body, footer] = good.split('.') as [string, string, string, string];

  const malformedTokens: Array<[string, string]> = [
    ['empty', ''],
    ['header only', 'v4.public.'],
    ['local purpose', good.replace('v4.public.', 'v4.local.')],
    ['version 3', good.replace('v4.public.', 'v3.public.')],
    ['upper-case header', good.replace('v4.public.', 'V4.PUBLIC.')],
    ['missing dot after header', good.replace('v4.public.', 'v4.public')],
    ['padding on the payload', `v4.public.${body}==.${footer}`],
    ['padding on the footer', `v4.public.${body}.${footer}=`],
    ['standard base64 alphabet', `v4.public.${body.replace(/_/g, '/').replace(/-/g, '+')}.${footer}`],
    ['a trailing dot (empty footer)', `v4.public.${body}.`],
    ['a fifth segment', `${good}.e30`],
    ['whitespace', ` ${good}`],
    ['a newline inside', `v4.public.${body.slice(0, 10)}\n${body.slice(10)}.${footer}`],
    ['non-ASCII characters', `v4.public.${body}é.${footer}`],
    ['a payload shorter than a signature', `v4.public.${Buffer.alloc(63).toString('base64url')}`],
    ['non-canonical trailing bits', `v4.public.${body.slice(0, -1)}${String.fromCharCode(body.charCodeAt(body.length - 1) + 1)}.${footer}`],
    ['a footer that is not UTF-8', `v4.public.${body}.${Buffer.from([0xff, 0xfe]).toString('base64url')}`],
    ['over 2048 characters', `v4.public.${'A'.repeat(MAX_TOKEN_LENGTH)}`],
    ['a huge input', 'v'.repeat(5_000_000)],
  ];

  it.each(malformedTokens)('rejects a token with %s as TOKEN_MALFORMED', (_name, token) => {
    expect(errorCode(() => verifyV4Public(ed, verifier, token, ''))).toBe('TOKEN_MALFORMED');
    expect(errorCode(() => decodeV4Public(token))).toBe('TOKEN_MALFORMED');
  });

  it('accepts a payload of exactly one signature and an empty message structurally', () => {
    const decoded = decodeV4Public(`v4.public.${Buffer.alloc(64).toString('base64url')}`);
    expect(decoded.message).toHaveLength(0);
    expect(decoded.signature).toHaveLength(64);
  });

  it('peeks at a footer without a key, and refuses malformed ones', () => {
    expect(peekFooter(vectors[0]!.token)).toBe('');
    expect(peekFooter(good)).toBe(vectorFooter);
    expect(errorCode(() => peekFooter(`v4.public.${body}.${footer}=`))).toBe('TOKEN_MALFORMED');
    expect(errorCode(() => peekFooter('x'.repeat(MAX_TOKEN_LENGTH + 1)))).toBe('TOKEN_MALFORMED');
  });

  it('refuses to sign a token longer than the device accepts', () => {
    const signer = ed.importPrivateKey(hex(seedHex));
    expect(errorCode(() => signV4Public(ed, signer, new Uint8Array(1500), '', ''))).toBe('TOKEN_CLAIMS');
  });

  it('never puts the token into an error message or its details', () => {
    try {
      verifyV4Public(ed, verifier, `${good}=`, '');
    } catch (err) {
      expect(JSON.stringify({ m: (err as Error).message, d: (err as { details?: unknown }).details })).not.toContain(body.slice(0, 20));
    }
  });
});
