import { createHash } from 'node:crypto';

// Digest of a locker's code set, computed identically by device and backend so both can
// tell whether they hold the same set. It is the XOR of one SHA-256 per entry, which makes
// it independent of order and updatable in O(change) when a delta is applied.
// Integrity check only (batches are authenticated by their signed manifest), so XOR's
// weakness against crafted collisions does not matter here.

export const EMPTY_CODE_SET_DIGEST = '0'.repeat(64);

export function codeEntryHash(tokenId: string, token: string): Buffer {
  return createHash('sha256').update(tokenId).update('\n').update(token).digest();
}

/** Returns digest XOR entryHash, as hex: adding and removing an entry are the same step. */
export function toggleCodeSetDigest(digestHex: string, tokenId: string, token: string): string {
  const acc = Buffer.from(digestHex, 'hex');
  const h = codeEntryHash(tokenId, token);
  for (let i = 0; i < 32; i++) acc[i] = (acc[i] ?? 0) ^ (h[i] ?? 0);
  return acc.toString('hex');
}

export function codeSetDigestOf(entries: Iterable<{ tokenId: string; token: string }>): string {
  const acc = Buffer.alloc(32);
  for (const e of entries) {
    const h = codeEntryHash(e.tokenId, e.token);
    for (let i = 0; i < 32; i++) acc[i] = (acc[i] ?? 0) ^ (h[i] ?? 0);
  }
  return acc.toString('hex');
}
