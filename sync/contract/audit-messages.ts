import { z } from 'zod';
import { LockerId } from './tokens/claims.js';
import { EpochMs, envelopeOf } from './envelope.js';
import { AuditLaneWire, AuditRecordWire, DbEpoch } from './shared-schemas.js';

// Audit upload (locker → backend) and its acknowledgement (backend → locker).

/** Records per upload message. Priority uploads stay within MAX_PRIORITY_UPLOAD_RECORDS so one ack covers them. */
export const MAX_UPLOAD_RECORDS = 256;
/** Budget for the records of one upload (the topic's limit is 4 MiB; headroom for JSON escaping). */
export const UPLOAD_RECORD_BYTES_BUDGET = 2 * 1024 * 1024;
/**
 * Out-of-order seqs one ack's claims may list (the schema's bound, which lockers in the field
 * enforce). NOT what one seal holds: each entry comes with a 64-hex hash in `alsoHashes`,
 * and the seal (2048 characters, tokens/paseto-v4-public.ts) fits only a dozen or so. The
 * backend splits the entries of one upload over as many acks as it takes, each filled by
 * its measured length (BackendSigner.auditAcks).
 */
export const MAX_ALSO_SEQS = 100;
/**
 * Records per priority upload: as many as one ack can always list, seqs and hashes, at the
 * longest locker id, epoch, kid and seq the schemas allow (proven in backend-seal.test.ts),
 * so a priority upload is acknowledged by one ack, whatever the backlog. Older lockers send
 * up to MAX_ALSO_SEQS; the backend answers those with several acks.
 */
export const MAX_PRIORITY_UPLOAD_RECORDS = 10;

/**
 * lockers/{id}/audit/upload. Records of one lane, ascending seq, read from the device's
 * durable outbox. The same records may be sent again (after a reconnect, a lost ack): the
 * backend dedupes by (lockerId, dbEpoch, seq) and checks each epoch's hash chain.
 */
export const AuditUploadMessage = z.object({
  ...envelopeOf('audit-upload'),
  /** The database the records come from: each epoch numbers its records from 1. */
  dbEpoch: DbEpoch,
  lane: AuditLaneWire,
  /** The locker's acked watermark when sending: everything up to it is already acknowledged. */
  ackedSeq: z.number().int().nonnegative(),
  /** Highest seq the locker has written (lets the backend see the backlog). */
  highSeq: z.number().int().nonnegative(),
  records: z.array(AuditRecordWire).min(1).max(MAX_UPLOAD_RECORDS),
});
export type AuditUploadMessage = z.infer<typeof AuditUploadMessage>;

/**
 * Seal claims (typ 'audit-ack'): the backend has durably stored every record up to
 * `contiguousSeq`, and also the listed `alsoSeqs` (priority records stored ahead of the
 * backlog). Signed because an ack lets the locker forget records: a forged ack would be a
 * way to erase evidence. Bound to the database epoch: an ack for another epoch is ignored.
 * `conflictAt`: the lowest seq of the acknowledged upload that the backend already holds
 * with another hash — this database did not write the epoch's stored records (it is a
 * restored copy), so the locker takes a new epoch (docs/decisions/0023).
 */
export const AuditAckClaims = z.object({
  typ: z.literal('audit-ack'),
  lockerId: LockerId,
  dbEpoch: DbEpoch,
  contiguousSeq: z.number().int().nonnegative(),
  alsoSeqs: z.array(z.number().int().positive()).max(MAX_ALSO_SEQS),
  conflictAt: z.number().int().positive().optional(),
  /** The hash of the backend's record at `contiguousSeq`: the locker applies the ack only if its own record there has it. */
  contiguousHash: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /**
   * The hashes of the backend's records at `alsoSeqs`, in the same order: the locker marks a
   * priority record acknowledged only if its own record there has that hash.
   */
  alsoHashes: z.array(z.string().regex(/^[0-9a-f]{64}$/)).max(MAX_ALSO_SEQS).optional(),
  iat: EpochMs,
});
export type AuditAckClaims = z.infer<typeof AuditAckClaims>;

/** lockers/{id}/audit/ack */
export const AuditAckMessage = z.object({
  ...envelopeOf('audit-ack'),
  seal: z.string().min(1).max(2048),
});
export type AuditAckMessage = z.infer<typeof AuditAckMessage>;
