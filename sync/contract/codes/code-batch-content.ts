import type { CodeBatch } from './code-batch.js';

// Content checks of a code batch that need no database and that no table constraint
// expresses. Uniqueness of upserted token ids and of open code digests is deliberately
// NOT checked here: the device store enforces both with its primary key and its partial
// unique index inside the apply transaction, at no extra cost, while two 10k-entry Sets
// here would cost a noticeable share of the apply time budget. Returns the first problem
// as an operator-readable reason (never a code or a token), or undefined.

export function findBatchContentProblem(batch: CodeBatch, lockerId: string): string | undefined {
  if (batch.lockerId !== lockerId) return 'batch is for another locker';
  if (batch.toVersion <= batch.fromVersion) return 'toVersion must be greater than fromVersion';
  if (batch.revocations.length === 0) return undefined;
  const revoked = new Set<string>();
  for (const r of batch.revocations) {
    if (revoked.has(r.tokenId)) return 'duplicate token id among revocations';
    revoked.add(r.tokenId);
  }
  for (const e of batch.upserts) {
    if (revoked.has(e.tokenId)) return 'token id both upserted and revoked';
  }
  return undefined;
}
