import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ContractError } from '../contract-error.js';
import {
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SEED_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  type Ed25519,
  type PrivateKeyHandle,
  type PublicKeyHandle,
} from './ed25519.js';

// The default adapter: OpenSSL through node:crypto, ~80x faster than tweetnacl on the board.
// node:crypto has no raw Ed25519 key import, so raw keys are wrapped in the fixed DER
// prefixes of SubjectPublicKeyInfo / PKCS#8 (RFC 8410).

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');


function invalidKey(what: string, cause?: unknown): ContractError {
  return new ContractError('CONFIG_INVALID', `invalid Ed25519 ${what}`, { adapter: 'node-crypto' }, { cause });
}

export function createNodeCryptoEd25519(): Ed25519 {
  // Handles are plain frozen objects; the KeyObject behind each is found through a WeakMap
  // private to this instance, so a handle cannot be forged or used by another adapter.
  const publicKeys = new WeakMap<PublicKeyHandle, KeyObject>();
  const privateKeys = new WeakMap<PrivateKeyHandle, KeyObject>();
  return {
    name: 'node-crypto',

    importPublicKey(raw32) {
      if (!(raw32 instanceof Uint8Array) || raw32.length !== ED25519_PUBLIC_KEY_LENGTH) throw invalidKey('public key length');
      let keyObject: KeyObject;
      try {
        keyObject = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw32]), format: 'der', type: 'spki' });
      } catch (err) {
        throw invalidKey('public key', err);
      }
      const handle: PublicKeyHandle = Object.freeze({ kind: 'ed25519-public', adapter: 'node-crypto', raw: Uint8Array.from(raw32) });
      publicKeys.set(handle, keyObject);
      return handle;
    },

    importPrivateKey(seed32) {
      if (!(seed32 instanceof Uint8Array) || seed32.length !== ED25519_SEED_LENGTH) throw invalidKey('seed length');
      let keyObject: KeyObject;
      try {
        keyObject = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed32]), format: 'der', type: 'pkcs8' });
      } catch (err) {
        throw invalidKey('seed', err);
      }
      const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
      const publicKey = Uint8Array.from(spki.subarray(SPKI_PREFIX.length));
      const handle: PrivateKeyHandle = Object.freeze({ kind: 'ed25519-private', adapter: 'node-crypto', publicKey });
      privateKeys.set(handle, keyObject);
      return handle;
    },

    sign(key, message) {
      const keyObject = privateKeys.get(key);
      if (keyObject === undefined) throw new ContractError('INTERNAL', 'private key handle not imported by this adapter', { adapter: 'node-crypto' });
      return new Uint8Array(sign(null, message, keyObject));
    },

    verify(key, message, signature) {
      const keyObject = publicKeys.get(key);
      if (keyObject === undefined) return false;
      if (!(message instanceof Uint8Array) || !(signature instanceof Uint8Array)) return false;
      if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
      try {
        return verify(null, message, keyObject, signature);
      } catch {
        return false;
      }
    },

    generateKeyPair() {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const spki = publicKey.export({ format: 'der', type: 'spki' });
      const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
      return {
        publicKey: Uint8Array.from(spki.subarray(SPKI_PREFIX.length)),
        seed: Uint8Array.from(pkcs8.subarray(PKCS8_PREFIX.length)),
      };
    },
  };
}
