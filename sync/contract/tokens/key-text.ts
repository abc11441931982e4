import { decodeBase64UrlStrict, encodeBase64Url } from '../crypto/base64url.js';
import { ED25519_PUBLIC_KEY_LENGTH, ED25519_SEED_LENGTH } from '../crypto/ed25519.js';
import { ContractError } from '../contract-error.js';

// Raw Ed25519 keys travel as unpadded base64url (43 characters for 32 bytes): in keyring
// rows, code batches (PublicKeyText), key files written by scripts/keygen.ts and config.

export function keyToText(raw32: Uint8Array): string {
  return encodeBase64Url(raw32);
}

function decodeKey(text: string, length: number, what: string): Uint8Array {
  const bytes = typeof text === 'string' ? decodeBase64UrlStrict(text.trim()) : undefined;
  if (bytes?.length !== length) throw new ContractError('CONFIG_INVALID', `${what} is not ${length} bytes of base64url`);
  return bytes;
}

/** Throws ContractError CONFIG_INVALID unless `text` is canonical base64url of 32 bytes. */
export function publicKeyFromText(text: string): Uint8Array {
  return decodeKey(text, ED25519_PUBLIC_KEY_LENGTH, 'public key');
}

/** Throws ContractError CONFIG_INVALID unless `text` is canonical base64url of 32 bytes. */
export function seedFromText(text: string): Uint8Array {
  return decodeKey(text, ED25519_SEED_LENGTH, 'signing key seed');
}
