import { z } from 'zod';
import { AuditCount, AuditDetail, AuditId, AuditMs, AuditReason, occurredAt } from './audit-fields.js';

// The device itself: start and stop, keypad lockout, input abuse, trusted time, code
// batches, and what the sync agent did on the backend's behalf.

export const deviceEvents = {
  'device.started': z.object({ liveCodes: AuditCount, clockFloor: AuditMs, ...occurredAt }),
  'device.stopped': z.object({}),
  /**
   * The database accepts writes again after a full or failing disk (since `sinceMs`):
   * `failedWrites` refused meanwhile (nothing opened for them), `deferredEvents` door
   * events written just before this record, `lostEvents` more than the device could hold.
   */
  'device.storage-recovered': z.object({ sinceMs: AuditMs, failedWrites: AuditCount, deferredEvents: AuditCount, lostEvents: AuditCount }),
  'keypad.lockout': z.object({
    reason: AuditReason,
    lockoutMs: AuditMs,
    consecutive: AuditCount.optional(),
    failuresInWindow: AuditCount.optional(),
    dailyBudget: AuditCount.optional(),
  }),
  /** More live codes than the keypad's guessing odds allow (once per episode). */
  /** `liveCodes` counts every code the keypad can match, `awaitingDeposit` of them not yet deposited. */
  'keypad.odds-degraded': z.object({ liveCodes: AuditCount, awaitingDeposit: AuditCount, maxLiveCodes: AuditCount }),
  'input.rejection-burst': z.object({ source: AuditReason, reason: AuditReason, threshold: AuditCount, windowMs: AuditMs }),
  /** The wall clock moved against device time (`floorMs`); `confirmed`: device time rests on a signed anchor. */
  'clock.jump': z.object({ direction: z.enum(['backward', 'forward']), wallMs: AuditMs, floorMs: AuditMs, byMs: AuditMs, confirmed: z.boolean() }),
  /** Device time first confirmed (`confirmed`) or caught up by more than the tolerance (`corrected`) by a backend-signed time. */
  'clock.signed-time': z.object({ source: AuditReason, epochMs: AuditMs, floorMs: AuditMs, correctionMs: z.number().int(), trust: z.enum(['confirmed', 'corrected']) }),
  'code-batch.applied': z.object({
    kind: z.enum(['delta', 'snapshot']),
    fromVersion: AuditCount,
    toVersion: AuditCount,
    previousVersion: AuditCount,
    upserts: AuditCount,
    revocations: AuditCount,
    keyring: z.array(z.object({ op: AuditReason, kid: AuditId })).max(64),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  'code-batch.rejected': z.object({ messageId: AuditId, kind: AuditReason, fromVersion: AuditCount, toVersion: AuditCount, reason: AuditDetail }),
  /** A batch tried to bind a kid the device config trusts to another public key: refused whole. */
  'code-batch.keyring-rebind-refused': z.object({ kid: AuditId, publicKey: z.string().max(64), kind: z.enum(['delta', 'snapshot']), fromVersion: AuditCount, toVersion: AuditCount, version: AuditCount }),
  /**
   * The database found itself to be a restored copy (the backend holds other records at
   * seqs it wrote, from `conflictAt`) and took a new epoch: records not yet acknowledged
   * and every later one travel under `epoch` (docs/decisions/0023).
   */
  'device.epoch-renewed': z.object({ previousEpoch: AuditId, epoch: AuditId, reason: AuditReason, highSeq: AuditCount, conflictAt: AuditCount }),
  /** A signed backend command executed (remote open, service change…) and its result. */
  'sync.command': z.object({ transactionId: AuditId, kind: AuditReason, status: AuditReason, outcome: AuditReason.optional() }),
  /** A command a crash interrupted: reported 'unknown', never repeated. */
  'sync.command-unknown': z.object({ transactionId: AuditId, kind: AuditReason, startedAt: AuditMs }),
  'sync.message-rejected': z.object({
    topic: AuditReason,
    reason: AuditReason,
    detail: AuditDetail.optional(),
    // Ids of a message that failed validation: whatever it carried, bounded.
    messageId: z.string().max(256).optional(),
    transactionId: z.string().max(256).optional(),
    suppressedBefore: AuditCount.optional(),
  }),
} as const;
