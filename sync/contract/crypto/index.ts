export {
  ED25519_PUBLIC_KEY_LENGTH,
  ED25519_SEED_LENGTH,
  ED25519_SIGNATURE_LENGTH,
  ed25519Kinds,
  hasCanonicalScalar,
  type Ed25519,
  type Ed25519Kind,
  type PrivateKeyHandle,
  type PublicKeyHandle,
} from './ed25519.js';
export { createEd25519 } from './create-ed25519.js';
export { createNodeCryptoEd25519 } from './node-crypto-ed25519.js';
export { createTweetnaclEd25519 } from './tweetnacl-ed25519.js';
export { decodeBase64UrlStrict, encodeBase64Url } from './base64url.js';
