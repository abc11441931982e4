import { describe, expect, it } from 'vitest';
import { isContractError } from '../contract-error.js';
import { createEd25519 } from './create-ed25519.js';
import { ed25519Kinds, hasCanonicalScalar, type Ed25519 } from './ed25519.js';

// One suite, every adapter: the device may run either, so they must agree on every answer.

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
const rfc8032 = [
  {
    name: 'TEST 1',
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2',
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The same signature with L added to its scalar half: same point equation, different bytes. */
function malleate(signature: Uint8Array): Uint8Array {
  const out = Uint8Array.from(signature);
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(out[32 + i]!);
  s += L;
  for (let i = 0; i < 32; i++) {
    out[32 + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return out;
}

describe.each(ed25519Kinds)('Ed25519 adapter %s', (kind) => {
  const ed: Ed25519 = createEd25519(kind);
  const pair = ed.generateKeyPair();
  const signer = ed.importPrivateKey(pair.seed);
  const verifier = ed.importPublicKey(pair.publicKey);
  const message = utf8('open compartment A7 for parcel 0042');
  const signature = ed.sign(signer, message);

  it('names itself after its kind', () => {
    expect(ed.name).toBe(kind);
  });

  it.each(rfc8032)('reproduces RFC 8032 $name byte for byte and verifies it', (v) => {
    const key = ed.importPrivateKey(hex(v.seed));
    expect(Buffer.from(key.publicKey).toString('hex')).toBe(v.publicKey);
    const sig = ed.sign(key, hex(v.message));
    expect(Buffer.from(sig).toString('hex')).toBe(v.signature);
    expect(ed.verify(ed.importPublicKey(hex(v.publicKey)), hex(v.message), hex(v.signature))).toBe(true);
  });

  it('generates a 32-byte public key that matches the seed', () => {
    expect(pair.publicKey).toHaveLength(32);
    expect(pair.seed).toHaveLength(32);
    expect(Buffer.from(signer.publicKey).equals(Buffer.from(pair.publicKey))).toBe(true);
  });

  it('verifies its own signature and signs deterministically', () => {
    expect(signature).toHaveLength(64);
    expect(ed.verify(verifier, message, signature)).toBe(true);
    expect(Buffer.from(ed.sign(signer, message)).equals(Buffer.from(signature))).toBe(true);
  });

  it('rejects a tampered message', () => {
    const tampered = Uint8Array.from(message);
    tampered[0] = tampered[0]! ^ 1;
    expect(ed.verify(verifier, tampered, signature)).toBe(false);
    expect(ed.verify(verifier, message.subarray(1), signature)).toBe(false);
  });

  it('rejects a signature with any single bit flipped', () => {
    for (let i = 0; i < 64; i++) {
      const bad = Uint8Array.from(signature);
      bad[i] = bad[i]! ^ (1 << i % 8);
      expect(ed.verify(verifier, message, bad), `byte ${i}`).toBe(false);
    }
  });

  it('rejects a signature made with another key', () => {
    const other = ed.generateKeyPair();
    expect(ed.verify(ed.importPublicKey(other.publicKey), message, signature)).toBe(false);
  });

  it('returns false instead of throwing for signatures of the wrong length', () => {
    for (const bad of [new Uint8Array(0), signature.subarray(0, 63), Uint8Array.from([...signature, 0]), new Uint8Array(128)]) {
      expect(ed.verify(verifier, message, bad)).toBe(false);
    }
  });

  it('returns false for an all-zero signature and an all-zero public key', () => {
    expect(ed.verify(verifier, message, new Uint8Array(64))).toBe(false);
    expect(ed.verify(ed.importPublicKey(new Uint8Array(32)), message, signature)).toBe(false);
  });

  it('rejects a malleated signature whose scalar is s + L', () => {
    const malleated = malleate(signature);
    expect(hasCanonicalScalar(signature)).toBe(true);
    expect(hasCanonicalScalar(malleated)).toBe(false);
    expect(ed.verify(verifier, message, malleated)).toBe(false);
  });

  it('refuses to import keys of the wrong length with a typed error', () => {
    for (const bad of [new Uint8Array(31), new Uint8Array(33), new Uint8Array(0)]) {
      expect(() => ed.importPublicKey(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }) as Error);
      let caught: unknown;
      try {
        ed.importPrivateKey(bad);
      } catch (err) {
        caught = err;
      }
      expect(isContractError(caught, 'CONFIG_INVALID')).toBe(true);
    }
  });

  it.each(ed25519Kinds)('agrees with the %s adapter in both directions', (otherKind) => {
    const other = createEd25519(otherKind);
    const otherSignature = other.sign(other.importPrivateKey(pair.seed), message);
    expect(Buffer.from(otherSignature).equals(Buffer.from(signature))).toBe(true);
    expect(other.verify(other.importPublicKey(pair.publicKey), message, signature)).toBe(true);
    expect(ed.verify(verifier, message, otherSignature)).toBe(true);
  });

  it('does not accept a forged handle or one from another adapter instance', () => {
    const forged = { kind: 'ed25519-public', adapter: kind, raw: pair.publicKey } as const;
    expect(ed.verify(forged, message, signature)).toBe(false);
    const sibling = createEd25519(kind);
    expect(ed.verify(sibling.importPublicKey(pair.publicKey), message, signature)).toBe(false);
    expect(() => ed.sign(sibling.importPrivateKey(pair.seed), message)).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as Error);
  });
});

describe('hasCanonicalScalar', () => {
  it('treats exactly L and anything of the wrong length as non-canonical', () => {
    const sig = new Uint8Array(64);
    let l = L;
    for (let i = 0; i < 32; i++) {
      sig[32 + i] = Number(l & 0xffn);
      l >>= 8n;
    }
    expect(hasCanonicalScalar(sig)).toBe(false);
    sig[32] = sig[32]! - 1;
    expect(hasCanonicalScalar(sig)).toBe(true);
    expect(hasCanonicalScalar(new Uint8Array(63))).toBe(false);
  });
});
