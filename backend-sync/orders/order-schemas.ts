import { z } from 'zod';
import { CompartmentSize, LockerId } from '../shared/contract.js';
import { CarrierCode, TrackingNumber } from '../tracking/tracking-event.js';
import { orderStates } from './order-state-machine.js';
import { shipmentStates } from './shipment-state-machine.js';
import { linesCents } from './lines-cents.js';

const LineId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
export const CustomerId = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'customer id: letters, digits, dot, colon, dash, underscore');

export const CustomerInput = z
  .object({
    name: z.string().min(1).max(100),
    email: z.email().optional(),
    phone: z.string().regex(/^\+?[0-9 ]{6,20}$/).optional(),
    /** The merchant's own id for the customer (order history); without it, the email is the id. No '@': that marks an email. */
    customerId: CustomerId.optional(),
  })
  .strict()
  .refine((c) => c.email !== undefined || c.phone !== undefined, { message: 'email or phone is required to send the pickup code' });

/**
 * The most one order may cost, in minor units (10^11: a billion in a two-decimal currency).
 * Far above any locker parcel, far below Number.MAX_SAFE_INTEGER: every total, line sum
 * and refund stays an exact integer, so an order that is stored can always be answered.
 */
export const MAX_ORDER_TOTAL_CENTS = 100_000_000_000;

const OrderLineInput = z
  .object({ lineId: LineId, sku: z.string().min(1).max(64), quantity: z.number().int().min(1).max(1000), unitPriceCents: z.number().int().min(0).max(MAX_ORDER_TOTAL_CENTS), size: CompartmentSize })
  .strict();

export const PlaceOrderRequest = z
  .object({
    orderRef: z.string().min(1).max(100),
    customer: CustomerInput,
    currency: z.string().regex(/^[A-Z]{3}$/),
    lines: z
      .array(OrderLineInput)
      .min(1)
      .max(100)
      .refine((ls) => new Set(ls.map((l) => l.lineId)).size === ls.length, { message: 'line ids must be unique' })
      .refine((ls) => linesCents(ls) <= MAX_ORDER_TOTAL_CENTS, { message: `order total (quantity × unitPriceCents, summed) must be at most ${String(MAX_ORDER_TOTAL_CENTS)}` }),
    /** Checkout holds to confirm (held under the same orderRef). */
    reservationIds: z
      .array(z.string().min(1).max(64))
      .max(20)
      .default([])
      // Listed twice, a hold would be confirmed and then found "no longer held": a 422 blaming
      // the hold for what is a malformed request.
      .refine((ids) => new Set(ids).size === ids.length, { message: 'reservation ids must be unique' }),
  })
  .strict();
export type PlaceOrderRequest = z.infer<typeof PlaceOrderRequest>;

export const CreateShipmentRequest = z
  .object({
    lineIds: z.array(LineId).min(1).max(100),
    /**
     * Checked by the tracking intake's rule (CarrierCode): every carrier step becomes a
     * tracking event under it, so a name it refuses ("   ") would make each step a 400.
     * Stored as given; the tracking side normalises it.
     */
    carrier: z.string().min(1).max(64).refine((c) => CarrierCode.safeParse(c).success, 'carrier: not only spaces'),
    /** The tracking format (tracking/tracking-event.ts): a number the timeline refuses would never be tracked, and GET /track would refuse it. */
    trackingNumber: TrackingNumber,
    delivery: z.union([z.object({ reservationId: z.string().min(1).max(64) }).strict(), z.object({ lockerId: LockerId, size: CompartmentSize }).strict()]),
  })
  .strict();
export type CreateShipmentRequest = z.infer<typeof CreateShipmentRequest>;

export const CancelRequest = z
  .object({
    reason: z.string().min(1).max(200),
    /** Omit both to cancel the whole order. */
    lineIds: z.array(LineId).max(100).optional(),
    shipmentIds: z.array(z.string().min(1).max(64)).max(50).optional(),
  })
  .strict();
export type CancelRequest = z.infer<typeof CancelRequest>;

export const ShipmentEventRequest = z.object({ event: z.enum(['ship', 'out_for_delivery']), reason: z.string().max(200).optional() }).strict();
export const ExtendPickupRequest = z.object({ extendByMs: z.number().int().positive() }).strict();
export const ReturnRequest = z.object({ lockerId: LockerId.optional(), reason: z.string().min(1).max(200) }).strict();
export const RetrievalTokenRequest = z.object({ courierId: z.string().min(1).max(64) }).strict();

export const ShipmentView = z.object({
  id: z.string(),
  orderId: z.string(),
  state: z.enum(shipmentStates),
  carrier: z.string(),
  trackingNumber: z.string(),
  lockerId: z.string().optional(),
  compartmentId: z.string().optional(),
  size: CompartmentSize.optional(),
  reservationId: z.string().optional(),
  pickupDeadline: z.number().int().optional(),
  lineIds: z.array(z.string()),
});
export type ShipmentView = z.infer<typeof ShipmentView>;

export const OrderView = z.object({
  id: z.string(),
  state: z.enum(orderStates),
  customer: z.object({ name: z.string(), email: z.string().optional(), phone: z.string().optional(), customerId: z.string().optional() }),
  currency: z.string(),
  totalCents: z.number().int(),
  lines: z.array(z.object({ lineId: z.string(), sku: z.string(), quantity: z.number().int(), unitPriceCents: z.number().int(), size: CompartmentSize, state: z.enum(['open', 'cancelled']), shipmentId: z.string().optional() })),
  shipments: z.array(ShipmentView),
  refunds: z.array(z.object({ id: z.string(), amountCents: z.number().int(), state: z.enum(['pending', 'succeeded', 'failed']), reason: z.string() })),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
});
export type OrderView = z.infer<typeof OrderView>;

export const StateLogView = z.array(
  z.object({ entity: z.string(), entityId: z.string(), from: z.string().optional(), to: z.string(), event: z.string(), actor: z.string(), reason: z.string().optional(), at: z.number().int() }),
);
