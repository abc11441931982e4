import { z } from 'zod';
import { CodeBatch } from './codes/code-batch.js';
import { LockerId } from './tokens/claims.js';
import { EpochMs, MessageId, envelopeOf } from './envelope.js';
import { CodeSetStateWire, Hex64 } from './shared-schemas.js';

// Code batches (backend → locker) and the locker's answers (ack, snapshot request).

/**
 * The signed manifest of a code batch (the seal's claims, typ 'code-batch-manifest').
 * Everything the locker must trust about the batch: which locker, which versions, how
 * many entries and the content hash. The content itself must hash to `contentHash`.
 */
export const CodeBatchManifest = z.object({
  typ: z.literal('code-batch-manifest'),
  lockerId: LockerId,
  kind: z.enum(['delta', 'snapshot']),
  fromVersion: z.number().int().nonnegative(),
  toVersion: z.number().int().positive(),
  upserts: z.number().int().nonnegative(),
  revocations: z.number().int().nonnegative(),
  keyring: z.number().int().nonnegative(),
  contentHash: Hex64,
  /** Backend clock, epoch ms; raises the locker's trusted-time floor once verified. */
  iat: EpochMs,
});
export type CodeBatchManifest = z.infer<typeof CodeBatchManifest>;

/**
 * lockers/{id}/codes/batch. `batch` is the device's own CodeBatch schema (strict: the
 * content is hashed and stored, so an unknown field inside it is a format the locker does
 * not understand and the batch is rejected, not silently trimmed).
 */
export const CodeBatchMessage = z.object({
  ...envelopeOf('code-batch'),
  /** Seal (backend-seal.ts) over a CodeBatchManifest. */
  manifest: z.string().min(1).max(2048),
  batch: CodeBatch,
});
export type CodeBatchMessage = z.infer<typeof CodeBatchMessage>;

export const codeAckOutcomes = ['applied', 'stale', 'gap', 'rejected'] as const;

/**
 * lockers/{id}/codes/ack: what the locker did with one batch message and the state it now
 * holds. 'stale' is also the answer to a duplicate of a batch already applied, so the
 * backend always learns the current version and digest.
 */
export const CodeAckMessage = z.object({
  ...envelopeOf('code-ack'),
  /** Id of the code-batch message this answers. */
  inReplyTo: MessageId,
  outcome: z.enum(codeAckOutcomes),
  batch: z.object({ kind: z.enum(['delta', 'snapshot']), fromVersion: z.number().int().nonnegative(), toVersion: z.number().int().positive() }),
  state: CodeSetStateWire,
  /** Operator-readable, for 'rejected' (never a code or a token). */
  reason: z.string().max(200).optional(),
});
export type CodeAckMessage = z.infer<typeof CodeAckMessage>;

/**
 * lockers/{id}/codes/snapshot-request: the locker cannot apply deltas on what it holds
 * (a version gap, or a resync command) and asks for a full snapshot.
 */
export const SnapshotRequestMessage = z.object({
  ...envelopeOf('snapshot-request'),
  reason: z.enum(['gap', 'resync-command', 'digest-mismatch']),
  state: CodeSetStateWire,
});
export type SnapshotRequestMessage = z.infer<typeof SnapshotRequestMessage>;
