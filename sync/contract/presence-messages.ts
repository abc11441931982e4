import { z } from 'zod';
import { envelopeOf } from './envelope.js';
import { CodeSetStateWire, DbEpoch, DeviceHealthWire } from './shared-schemas.js';

// Presence (retained) and health (periodic), both locker → backend.

/** A signing key id, as in keyring changes (codes/code-batch.ts). */
const Kid = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

/** More than a fleet keeps in rotation; bounds the message (presence maxBytes). */
export const MAX_ANNOUNCED_KIDS = 16;

export const BootId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/);

/**
 * lockers/{id}/presence, retained. 'online' is the birth message published on every
 * connect; 'offline' is the last will the broker publishes when the connection dies
 * without a DISCONNECT (and the locker publishes on a clean stop). `bootId` changes per
 * process start, so the backend can tell a reboot from a reconnect; `dbEpoch` changes only
 * when the device database is replaced.
 */
export const PresenceMessage = z.discriminatedUnion('status', [
  z.object({
    ...envelopeOf('presence'),
    status: z.literal('online'),
    bootId: BootId,
    firmwareVersion: z.string().min(1).max(64),
    /** The database epoch: commands and audit acks for this locker must name it (retained, so the backend learns it before issuing anything). */
    dbEpoch: DbEpoch,
    codeSet: CodeSetStateWire,
    audit: z.object({ highSeq: z.number().int().nonnegative(), ackedSeq: z.number().int().nonnegative() }),
    /**
     * The backend key ids this locker trusts now (optional, later lockers): a database
     * replaced since provisioning knows only its config's keys, and the backend must seal
     * with one of them until the keyring reaches it again. Absent: the backend keeps the
     * list it recorded.
     */
    trustedKids: z.array(Kid).max(MAX_ANNOUNCED_KIDS).optional(),
  }),
  z.object({
    ...envelopeOf('presence'),
    status: z.literal('offline'),
    bootId: BootId,
    /** 'will': published by the broker for a dead connection; 'shutdown': clean stop. */
    cause: z.enum(['will', 'shutdown']),
  }),
]);
export type PresenceMessage = z.infer<typeof PresenceMessage>;

/** lockers/{id}/health, not retained, QoS 0: a lost one is replaced by the next. */
export const HealthMessage = z.object({
  ...envelopeOf('health'),
  bootId: BootId,
  health: DeviceHealthWire,
});
export type HealthMessage = z.infer<typeof HealthMessage>;
