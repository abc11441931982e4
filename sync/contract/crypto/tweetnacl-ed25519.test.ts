import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { createTweetnaclEd25519 } from './tweetnacl-ed25519.js';

// Why the adapter checks s < L itself: the library alone accepts the malleated signature.
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function addL(signature: Uint8Array): Uint8Array {
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

describe('tweetnacl adapter', () => {
  it('rejects an s + L signature that tweetnacl itself accepts', () => {
    const ed = createTweetnaclEd25519();
    const { publicKey, seed } = ed.generateKeyPair();
    const message = new TextEncoder().encode('parcel 0042');
    const malleated = addL(ed.sign(ed.importPrivateKey(seed), message));
    expect(nacl.sign.detached.verify(message, malleated, publicKey)).toBe(true);
    expect(ed.verify(ed.importPublicKey(publicKey), message, malleated)).toBe(false);
  });
});
