import type { CodeBatch } from './code-batch.js';

// Content checks of a code batch that need no database: the ones that make a batch
// contradictory whatever the device holds. Cheap (one pass, Sets), because it runs on
// every batch of up to 200k entries. Returns the first problem as an operator-readable
// reason (never a code or a token), or undefined.

export function findBatchContentProblem(batch: CodeBatch, lockerId: string): string | undefined {
  if (batch.lockerId !== lockerId) return 'batch is for another locker';
  if (batch.toVersion <= batch.fromVersion) return 'toVersion must be greater than fromVersion';
  const ids = new Set<string>();
  const digests = new Set<string>();
  for (const entry of batch.upserts) {
    if (ids.has(entry.tokenId)) return 'duplicate token id among upserts';
    ids.add(entry.tokenId);
    if (entry.codeDigest !== undefined) {
      if (digests.has(entry.codeDigest)) return 'duplicate code digest among upserts';
      digests.add(entry.codeDigest);
    }
  }
  const revoked = new Set<string>();
  for (const r of batch.revocations) {
    if (revoked.has(r.tokenId)) return 'duplicate token id among revocations';
    if (ids.has(r.tokenId)) return 'token id both upserted and revoked';
    revoked.add(r.tokenId);
  }
  return undefined;
}
