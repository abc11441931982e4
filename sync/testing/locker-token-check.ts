import { verifyToken, type TokenVerification, type VerifyTokenInput } from '@locker/device/tokens/token-verifier.js';
import type { Ed25519 } from '@locker/contract/crypto/ed25519.js';
import type { KeyResolver } from '@locker/contract/tokens/keyring.js';

// Backend tests ask "would a locker accept this token?" through this harness, so the
// backend package never imports the device's verifier itself.
export function lockerWouldAccept(input: VerifyTokenInput, keys: KeyResolver, ed: Ed25519): TokenVerification {
  return verifyToken(input, keys, ed);
}
