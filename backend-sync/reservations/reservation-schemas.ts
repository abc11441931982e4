import { z } from 'zod';
import { CompartmentSize, LockerId } from '../shared/contract.js';

export const ReservationRequest = z
  .object({
    /** The merchant's checkout/order reference the hold belongs to. */
    orderRef: z.string().min(1).max(100),
    lockerId: LockerId,
    size: CompartmentSize,
  })
  .strict();
export type ReservationRequest = z.infer<typeof ReservationRequest>;

export const ReservationView = z.object({
  id: z.string(),
  orderRef: z.string(),
  lockerId: z.string(),
  size: CompartmentSize,
  compartmentId: z.string(),
  status: z.enum(['held', 'confirmed', 'released', 'expired', 'consumed']),
  expiresAt: z.number().int(),
  orderId: z.string().optional(),
  shipmentId: z.string().optional(),
});
export type ReservationView = z.infer<typeof ReservationView>;
