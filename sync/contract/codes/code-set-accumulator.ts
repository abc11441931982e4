import { hash } from 'node:crypto';

// A mutable code-set digest for applying a batch: toggling thousands of entries through
// toggleCodeSetDigest would parse and re-encode hex for each one. Same arithmetic as
// code-set-digest.ts (XOR of sha256(tokenId + "\n" + token): the same bytes codeEntryHash
// feeds in three updates), so the result equals codeSetDigestOf over the same set; the
// one-shot crypto.hash costs about half of createHash per entry, which is most of the
// digest's share of a 10k batch (code-set-accumulator.test.ts pins the equality).

export class CodeSetAccumulator {
  private readonly acc: Buffer;

  constructor(digestHex: string) {
    this.acc = Buffer.from(digestHex, 'hex');
    if (this.acc.length !== 32) throw new RangeError('code-set digest must be 32 bytes of hex');
  }

  /** Adds the entry if absent from the set, removes it if present. */
  toggle(tokenId: string, token: string): void {
    const h = hash('sha256', `${tokenId}\n${token}`, 'buffer');
    const acc = this.acc;
    for (let i = 0; i < 32; i++) acc[i] = (acc[i] ?? 0) ^ (h[i] ?? 0);
  }

  /** XORs in a precomputed XOR of entry hashes (see store/parallel-entry-hasher.ts). */
  xor(hashes: Uint8Array): void {
    if (hashes.length !== 32) throw new RangeError('entry hash XOR must be 32 bytes');
    const acc = this.acc;
    for (let i = 0; i < 32; i++) acc[i] = (acc[i] ?? 0) ^ (hashes[i] ?? 0);
  }

  reset(): void {
    this.acc.fill(0);
  }

  hex(): string {
    return this.acc.toString('hex');
  }
}
