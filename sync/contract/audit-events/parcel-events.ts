import { z } from 'zod';
import { AuditCount, AuditDetail, AuditDoorEvent, AuditId, AuditReason, AuditVia, occurredAt } from './audit-fields.js';

// What happened to a parcel at the locker: pickup (by code or QR), courier deposit and
// re-slot, expiry, return drop-off and retrieval. These drive the backend's shipment and
// order states (backend-sync/locker-sync/audit-event-map.ts).

const doorOpened = z.object({ tokenId: AuditId, compartmentId: AuditId, via: AuditVia, parcelId: AuditId.optional(), door: AuditDoorEvent, ...occurredAt });
const doorClosed = z.object({ tokenId: AuditId, compartmentId: AuditId, via: AuditVia, parcelId: AuditId.optional(), ...occurredAt });
const pickupRefused = z.object({ via: AuditVia, reason: AuditReason, tokenId: AuditId.optional(), detail: AuditDetail.optional() });
const deposit = { tokenId: AuditId, parcelId: AuditId, compartmentId: AuditId, assignedId: AuditId, ...occurredAt };

export const parcelEvents = {
  /** The pickup door opened (or was already open): the parcel is reachable, the token spent. */
  'pickup.collected': doorOpened,
  'pickup.door-closed': doorClosed,
  'pickup.rejected': pickupRefused,
  /** A rejection that looks like an attack (a forged or mismatching token): priority lane. */
  'pickup.suspicious': pickupRefused,
  /** The pickup window lapsed (at a pickup attempt, or `by: 'sweep'`): the parcel waits for a courier. */
  'pickup.expired': z.object({
    tokenId: AuditId,
    returnNeeded: z.boolean(),
    parcelId: AuditId.optional(),
    compartmentId: AuditId.optional(),
    by: z.literal('sweep').optional(),
  }),
  'courier.session-started': z.object({ tokenId: AuditId, sub: AuditId.optional() }),
  'courier.session-ended': z.object({ deposits: AuditCount }),
  'courier.rejected': z.object({ tokenId: AuditId, reason: AuditReason }),
  'courier.credential-invalid': z.object({ tokenId: AuditId, reason: AuditReason }),
  'courier.parcel-refused': z.object({ tokenId: AuditId, parcelId: AuditId, reason: AuditReason }),
  /** The door closed on a deposit: the parcel is in `compartmentId` (maybe not the assigned one). */
  /** `replacedTokenId`: the deposit went to a re-issued entry for the same parcel (decision 0024). */
  'courier.deposited': z.object({ ...deposit, replacedTokenId: AuditId.optional() }),
  /** Deposited although the entry was no longer live (revoked meanwhile): it must go back. */
  'courier.deposited-not-live': z.object({ ...deposit, entryState: AuditReason, returnNeeded: z.boolean() }),
  'courier.reslot': z.object({ tokenId: AuditId, parcelId: AuditId, from: AuditId, to: AuditId, reason: AuditReason }),
  'return.dropoff-opened': doorOpened,
  /** The customer's return is in the compartment. */
  'return.dropped-off': doorClosed,
  'return.retrieval-refused': z.object({ tokenId: AuditId, compartmentId: AuditId, parcelId: AuditId, reason: AuditReason }),
  'return.retrieval-opened': z.object({ tokenId: AuditId, compartmentId: AuditId, parcelId: AuditId, door: AuditDoorEvent, ...occurredAt }),
  /**
   * A courier took parcel `parcelId` out of `compartmentId` (an expired pickup or a return):
   * the backend starts the refund. `entries` are the code entries it closed.
   */
  'return.retrieved': z.object({ compartmentId: AuditId, courierTokenId: AuditId, parcelId: AuditId, entries: z.array(AuditId).max(64), ...occurredAt }),
} as const;
