import { z } from 'zod';
import { AuditCount, AuditId, AuditMs, AuditReason, occurredAt } from './audit-fields.js';

// Doors and compartments: every pulse begun, what the door sensor then said, faults, and
// compartments taken out of or back into service. Faults raise backend alerts.

const open = { opId: AuditId, compartmentId: AuditId, reason: AuditReason, tokenId: AuditId.optional(), parcelId: AuditId.optional(), transactionId: AuditId.optional() };
const service = {
  compartmentId: AuditId,
  inService: z.boolean(),
  from: AuditReason,
  to: AuditReason,
  failuresCleared: AuditCount,
  by: AuditReason,
  reason: AuditReason.optional(),
  transactionId: AuditId.optional(),
  parcelId: AuditId.optional(),
};

export const doorEvents = {
  /** Written in the same commit as the open journal entry, before the relay pulses. */
  'door.open-begun': z.object(open),
  /**
   * An open whose outcome nobody saw: cut by a restart, or still undecided when the runtime
   * stopped. Its single-use token is spent. `occurredAt`: written late after a full disk, when
   * the locker found it unknown, like the technician.task written with it.
   */
  'door.open-unknown': z.object({ ...open, startedAt: AuditMs, tokenSpent: z.boolean(), closedEntries: z.array(AuditId).optional(), cause: z.enum(['restart', 'stop']), ...occurredAt }),
  'door.already-open': z.object({ compartmentId: AuditId, opId: AuditId, ...occurredAt }),
  /** `flapEdges`: the sensor changed this often within `flapWindowMs` (flapping); reported once until it settles. */
  'door.sensor-unknown': z.object({
    compartmentId: AuditId,
    opId: AuditId.optional(),
    pulsed: z.boolean(),
    flapEdges: AuditCount.optional(),
    flapWindowMs: AuditMs.optional(),
    ...occurredAt,
  }),
  'door.uncommanded-open': z.object({ compartmentId: AuditId, ...occurredAt }),
  'door.closed': z.object({ compartmentId: AuditId, openMs: AuditMs, commanded: z.boolean(), opId: AuditId.optional(), ...occurredAt }),
  /** A pickup door was open when the locker restarted: the parcel was taken (the token is spent), the compartment freed. */
  'compartment.freed-after-restart': z.object({ compartmentId: AuditId, parcelId: AuditId, tokenId: AuditId }),
  /** `energised`: the relay was switched on before it failed, so the lock may have opened. */
  'door.relay-fault': z.object({ compartmentId: AuditId, opId: AuditId, energised: z.boolean().optional(), ...occurredAt }),
  /** The locker cannot tell what happened in a compartment (dead sensor, unknown open): someone has to look. */
  'technician.task': z.object({
    compartmentId: AuditId,
    task: z.enum(['check-compartment']),
    cause: z.enum(['sensor-unknown', 'open-unknown', 'deposit-interrupted']),
    outOfService: z.boolean(),
    opId: AuditId.optional(),
    tokenId: AuditId.optional(),
    parcelId: AuditId.optional(),
    ...occurredAt,
  }),
  'door.jammed': z.object({ compartmentId: AuditId, opId: AuditId.optional(), waitedMs: AuditMs, ...occurredAt }),
  'door.left-open': z.object({ compartmentId: AuditId, openMs: AuditMs, ...occurredAt }),
  /**
   * Three writers: repeated door failures (`failures`), a courier reporting a faulty door,
   * and the backend's set-compartment-service command (the service fields).
   */
  'compartment.out-of-service': z.object({
    compartmentId: AuditId,
    reason: AuditReason.optional(),
    failures: AuditCount.optional(),
    inService: z.boolean().optional(),
    from: AuditReason.optional(),
    to: AuditReason.optional(),
    failuresCleared: AuditCount.optional(),
    by: AuditReason.optional(),
    transactionId: AuditId.optional(),
    parcelId: AuditId.optional(),
    ...occurredAt,
  }),
  'compartment.in-service': z.object(service),
  'remote.open': z.object({ transactionId: AuditId, compartmentId: AuditId, reason: z.string().max(64), opId: AuditId }),
  /** A technician's service credential opened a compartment (priority lane). */
  'service.open': z.object({ tokenId: AuditId, compartmentId: AuditId, sub: AuditId.optional() }),
} as const;
