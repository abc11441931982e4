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
});
export type DeviceHealthWire = z.infer<typeof DeviceHealthWire>;
