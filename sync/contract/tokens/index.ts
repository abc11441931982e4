export * from './claims.js';
export {
  MAX_TOKEN_LENGTH,
  V4_PUBLIC_HEADER,
  decodeV4Public,
  pae,
  peekFooter,
  signV4Public,
  verifyDecodedV4Public,
  verifyV4Public,
  type DecodedV4Public,
} from './paseto-v4-public.js';
export {
  Keyring,
  applyKeyringChange,
  reinstateKid,
  type KeyLookup,
  type KeyResolver,
  type KeyringChangeOutcome,
} from './keyring.js';
export { TokenIssuer, type IssuableClaims, type TokenIssuerOptions } from './token-issuer.js';
export { keyToText, publicKeyFromText, seedFromText } from './key-text.js';
