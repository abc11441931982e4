import { z } from 'zod';

// Small value schemas several messages share.

export const Hex64 = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex characters');

export const CodeSetStateWire = z.object({
  version: z.number().int().nonnegative(),
  digest: Hex64,
});
export type CodeSetStateWire = z.infer<typeof CodeSetStateWire>;

/**
 * The identity of one device database (docs/decisions/0023): a random id created with the
 * file. A database moved aside and replaced by a fresh one gets a new epoch, so commands
 * and acks issued to the old file never apply to the new one, and the backend keeps each
 * file's audit chain apart.
 */
export const DbEpoch = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, 'database epoch: 16-64 url-safe characters');
export type DbEpoch = z.infer<typeof DbEpoch>;

export const AuditLaneWire = z.enum(['priority', 'normal']);

/** Longest dataJson one record may carry on the wire (the uploader keeps messages under MAX_UPLOAD_BYTES). */
export const MAX_AUDIT_DATA_JSON = 1024 * 1024;

/** One audit record exactly as sync/agent/device-sync-port.ts AuditRecord (the hash chain's input). */
export const AuditRecordWire = z.object({
  seq: z.number().int().positive(),
  at: z.number().int().nonnegative(),
  type: z.string().min(1).max(64),
  lane: AuditLaneWire,
  dataJson: z.string().max(MAX_AUDIT_DATA_JSON),
  prevHash: Hex64,
  hash: Hex64,
});
export type AuditRecordWire = z.infer<typeof AuditRecordWire>;

/** Longest rejection reason a health report carries, and how many distinct reasons. */
export const MAX_REASON_LENGTH = 64;
export const MAX_REJECTION_REASONS = 64;

export const DeviceHealthWire = z.object({
  compartments: z
    .array(
      z.object({
        id: z.string().max(16),
        status: z.enum(['ok', 'occupied', 'out-of-service']),
        door: z.enum(['open', 'closed', 'unknown']),
      }),
    )
    .max(512),
  // Times are epoch ms; not required to be integers (a health report must never fail to
  // encode over a fractional clock reading).
  lockout: z.object({ active: z.boolean(), until: z.number().nonnegative().optional(), failures: z.number().int().nonnegative() }),
  liveCodes: z.number().int().nonnegative(),
  auditBacklog: z.number().int().nonnegative(),
  clockFloor: z.number().nonnegative(),
  // The figures below were added later (issue 8) and are optional so an older locker's
  // report stays valid. Counters are "since boot": they restart at 0 with a new bootId.
  /** The code-set version the locker holds (the backend compares it with what it sent). */
  codeSetVersion: z.number().int().nonnegative().optional(),
  /** Keypad codes for parcels not yet deposited (they count toward the lockout odds). */
  awaitingDeposit: z.number().int().nonnegative().optional(),
  /** Inbound messages the locker's sync agent rejected since boot, by reason. */
  rejectedMessages: z
    .record(z.string().min(1).max(MAX_REASON_LENGTH), z.number().int().nonnegative())
    .refine((r) => Object.keys(r).length <= MAX_REJECTION_REASONS, `at most ${String(MAX_REJECTION_REASONS)} reasons`)
    .optional(),
  /** Security-relevant rejections counted but not yet audited (rate limit; durable, cleared by the next audit record). */
  rejectionAuditsSuppressed: z.number().int().nonnegative().optional(),
  /** Keypad lockouts begun since boot. */
  lockouts: z.number().int().nonnegative().optional(),
  /** Door failures since boot, by kind (each also counts toward taking a compartment out of service). */
  doorFailures: z
    .object({
      jammed: z.number().int().nonnegative(),
      'relay-fault': z.number().int().nonnegative(),
      'sensor-unknown': z.number().int().nonnegative(),
    })
    .optional(),
  /**
   * `writable` false: the locker's database refuses writes (disk full), so it opens no door;
   * refused writes since boot; `reserveReleased` true: the locker gave up its storage
   * reserve to keep writing, so its card is nearly full (absent: a locker without one).
   */
  storage: z.object({ writable: z.boolean(), writeFailures: z.number().int().nonnegative(), reserveReleased: z.boolean().optional() }).optional(),
});
export type DeviceHealthWire = z.infer<typeof DeviceHealthWire>;
