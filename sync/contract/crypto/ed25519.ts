// The one signature primitive the device needs, behind a small interface so the fast
// native implementation (node:crypto / OpenSSL) and the pure-JS fallback (tweetnacl) are
// interchangeable and tested by one contract suite (ed25519.contract.test.ts).
//
// Keys are imported once into handles: node:crypto's rate halves when a raw key is
// re-imported per verification, and the keyring verifies many tokens with few keys.

export const ed25519Kinds = ['node-crypto', 'tweetnacl'] as const;
export type Ed25519Kind = (typeof ed25519Kinds)[number];

export const ED25519_PUBLIC_KEY_LENGTH = 32;
export const ED25519_SEED_LENGTH = 32;
export const ED25519_SIGNATURE_LENGTH = 64;

/**
 * An imported public key. Opaque: only the adapter instance that created it can use it
 * (another instance's `verify` returns false). `raw` is a copy of the 32 key bytes, for display and
 * persistence.
 */
export interface PublicKeyHandle {
  readonly kind: 'ed25519-public';
  readonly adapter: Ed25519Kind;
  readonly raw: Uint8Array;
}

/** An imported signing key. Opaque on purpose: the seed is not readable back out of it. */
export interface PrivateKeyHandle {
  readonly kind: 'ed25519-private';
  readonly adapter: Ed25519Kind;
  readonly publicKey: Uint8Array;
}

export interface Ed25519 {
  readonly name: Ed25519Kind;
  /** Throws ContractError CONFIG_INVALID unless `raw32` is 32 bytes the library accepts. */
  importPublicKey(raw32: Uint8Array): PublicKeyHandle;
  /** Throws ContractError CONFIG_INVALID unless `seed32` is 32 bytes (RFC 8032 private key). */
  importPrivateKey(seed32: Uint8Array): PrivateKeyHandle;
  /** Deterministic (RFC 8032): the same key and message always give the same 64 bytes. */
  sign(key: PrivateKeyHandle, message: Uint8Array): Uint8Array;
  /**
   * Never throws: a signature of the wrong length, a foreign handle or any library error
   * is simply `false`. Rejects non-canonical signatures (s >= L) in both adapters.
   */
  verify(key: PublicKeyHandle, message: Uint8Array, signature: Uint8Array): boolean;
  generateKeyPair(): { publicKey: Uint8Array; seed: Uint8Array };
}

// Group order L = 2^252 + 27742317777372353535851937790883648493, little-endian, as it
// appears in the second half of a signature.
const L_LE = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
]);

/**
 * True when the scalar half of a 64-byte signature is reduced (s < L), as RFC 8032 §5.1.7
 * requires. tweetnacl skips this check (its issue #253), so s + L also verifies there.
 */
export function hasCanonicalScalar(signature: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i] ?? 0;
    const l = L_LE[i] ?? 0;
    if (s < l) return true;
    if (s > l) return false;
  }
  return false; // s == L
}
