import { hash } from 'node:crypto';
import type { EntryText } from './parallel-entry-hasher.js';

// The XOR of the code-set entry hashes of a batch's upserts (code-set-digest.ts's
// codeEntryHash: SHA-256 of tokenId "\n" token), computed on the event loop in slices for
// the sliced apply (docs/decisions/0025, addendum). Handing 10k entries to the hasher's
// worker cost one structured clone of ~2.5 MB in a single turn (4–8 ms of the event loop
// measured here, beside a staging slice); hashing here costs about as much in total, but
// spread over turns of at most `budgetMs`.

/** Entries hashed between two clock reads. */
const CHUNK = 256;

export async function xorEntryHashesInSlices(
  entries: readonly EntryText[],
  budgetMs: number,
  yieldToLoop: () => Promise<void>,
): Promise<Buffer> {
  const acc = Buffer.alloc(32);
  let i = 0;
  while (i < entries.length) {
    const started = performance.now();
    do {
      const end = Math.min(entries.length, i + CHUNK);
      for (; i < end; i++) {
        const e = entries[i];
        if (e === undefined) continue;
        const h = hash('sha256', `${e.tokenId}\n${e.token}`, 'buffer');
        for (let j = 0; j < 32; j++) acc[j] = (acc[j] ?? 0) ^ (h[j] ?? 0);
      }
    } while (i < entries.length && performance.now() - started < budgetMs);
    if (i < entries.length) await yieldToLoop();
  }
  return acc;
}
