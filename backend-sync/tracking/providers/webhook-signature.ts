import { createHmac, timingSafeEqual } from 'node:crypto';

// HMAC-SHA256 over the raw body bytes exactly as received (re-serialising parsed JSON would
// change them), compared in constant time. Each provider wraps the digest its own way.

export function hmacSha256(secret: Buffer | string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest();
}

/** Constant-time equality of two strings; different lengths compare unequal (the length is not secret). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
