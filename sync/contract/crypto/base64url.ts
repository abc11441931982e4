// Strict base64url (RFC 4648 §5, no padding), as PASETO requires. Buffer's decoder is
// lenient (skips invalid characters, ignores padding and non-zero trailing bits), so a
// token could have several spellings; we accept exactly one: the canonical encoding.

const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** The decoded bytes, or undefined unless `text` is the canonical unpadded base64url of them. */
export function decodeBase64UrlStrict(text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || !BASE64URL.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  // Re-encoding catches non-zero trailing bits ("AB" and "AA" would both decode to 0x00).
  if (bytes.toString('base64url') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
