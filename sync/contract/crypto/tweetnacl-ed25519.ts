import nacl from 'tweetnacl';
import { ContractError } from '../contract-error.js';
import {
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SEED_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  hasCanonicalScalar,
  type Ed25519,
  type PrivateKeyHandle,
  type PublicKeyHandle,
} from './ed25519.js';

// Pure-JS fallback for boards or Node builds whose OpenSSL lacks Ed25519. About 100
// verifications per second on our 2-core board: enough for a keypad, not for bulk checks.
//
// tweetnacl accepts a signature whose scalar has the group order added (s + L, its issue
// #253); OpenSSL rejects it. We reject it here too, so both adapters give the same answer
// for every signature (replay protection never relies on signature bytes anyway).

function invalidKey(what: string): ContractError {
  return new ContractError('CONFIG_INVALID', `invalid Ed25519 ${what}`, { adapter: 'tweetnacl' });
}

export function createTweetnaclEd25519(): Ed25519 {
  // Key bytes live in WeakMaps private to this instance; handles only point at them.
  const secretKeys = new WeakMap<PrivateKeyHandle, Uint8Array>();
  const publicKeys = new WeakMap<PublicKeyHandle, Uint8Array>();
  return {
    name: 'tweetnacl',

    importPublicKey(raw32) {
      if (!(raw32 instanceof Uint8Array) || raw32.length !== ED25519_PUBLIC_KEY_LENGTH) throw invalidKey('public key length');
      const raw = Uint8Array.from(raw32);
      const handle: PublicKeyHandle = Object.freeze({ kind: 'ed25519-public', adapter: 'tweetnacl', raw });
      publicKeys.set(handle, Uint8Array.from(raw32));
      return handle;
    },

    importPrivateKey(seed32) {
      if (!(seed32 instanceof Uint8Array) || seed32.length !== ED25519_SEED_LENGTH) throw invalidKey('seed length');
      const pair = nacl.sign.keyPair.fromSeed(Uint8Array.from(seed32));
      const handle: PrivateKeyHandle = Object.freeze({ kind: 'ed25519-private', adapter: 'tweetnacl', publicKey: Uint8Array.from(pair.publicKey) });
      secretKeys.set(handle, pair.secretKey);
      return handle;
    },

    sign(key, message) {
      const secretKey = secretKeys.get(key);
      if (secretKey === undefined) throw new ContractError('INTERNAL', 'private key handle not imported by this adapter', { adapter: 'tweetnacl' });
      return nacl.sign.detached(message, secretKey);
    },

    verify(key, message, signature) {
      const publicKey = publicKeys.get(key);
      if (publicKey === undefined) return false;
      if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
      if (signature.length !== ED25519_SIGNATURE_LENGTH || !hasCanonicalScalar(signature)) return false;
      try {
        return nacl.sign.detached.verify(message, signature, publicKey);
      } catch {
        return false;
      }
    },

    generateKeyPair() {
      const seed = nacl.randomBytes(ED25519_SEED_LENGTH);
      const pair = nacl.sign.keyPair.fromSeed(seed);
      return { publicKey: Uint8Array.from(pair.publicKey), seed };
    },
  };
}
