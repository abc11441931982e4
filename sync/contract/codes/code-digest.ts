import { createHmac } from 'node:crypto';

// The cache stores a digest of a keypad code, never the code. A plain hash of an 8-digit
// code falls to brute force in seconds, so the digest is keyed with a per-locker secret
// (the "code pepper", provisioned at install and known to the backend) that lives in the
// device config, not in the database: a copied database alone reveals no codes.

export function codeDigest(pepper: Uint8Array, lockerId: string, code: string): string {
  return createHmac('sha256', pepper).update(`${lockerId}:${code}`).digest('hex');
}
