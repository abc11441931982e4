import { z } from 'zod';
import { orderStates } from '../orders/order-state-machine.js';
import { shipmentStates } from '../orders/shipment-state-machine.js';
import { BackendError } from '../shared/errors.js';
import { TrackingStatus } from './tracking-event.js';

// A customer's order history for the tracking page: their orders newest first, filtered by
// state and creation date, searchable by tracking number, each with its shipments and
// where each parcel is (the tracking projection's status). Keyset pagination on
// (created_at, id). Customers are known by the order's email (lowercased).

export const CustomerOrdersQuery = z
  .object({
    email: z.email().max(254).transform((e) => e.toLowerCase()),
    status: z.enum(orderStates).optional(),
    /** Created at or after (epoch ms). */
    from: z.coerce.number().int().nonnegative().optional(),
    /** Created before (epoch ms). */
    to: z.coerce.number().int().positive().optional(),
    trackingNumber: z.string().min(1).max(64).optional(),
    limit: z.coerce.number().int().min(1).max(100).default(20),
    /** The `next` cursor of the previous page. */
    after: z.string().max(200).optional(),
  })
  .strict();
export type CustomerOrdersQuery = z.infer<typeof CustomerOrdersQuery>;

export const CustomerOrderSummary = z.object({
  orderId: z.string(),
  state: z.enum(orderStates),
  totalCents: z.number().int(),
  currency: z.string(),
  createdAt: z.number().int(),
  shipments: z.array(
    z.object({
      shipmentId: z.string(),
      state: z.enum(shipmentStates),
      carrier: z.string(),
      trackingNumber: z.string(),
      trackingStatus: TrackingStatus.nullable(),
    }),
  ),
});
export type CustomerOrderSummary = z.infer<typeof CustomerOrderSummary>;

export const CustomerOrdersPage = z.object({ orders: z.array(CustomerOrderSummary), next: z.string().optional() });
export type CustomerOrdersPage = z.infer<typeof CustomerOrdersPage>;

export interface CustomerOrdersFilter {
  email: string;
  status: string | null;
  from: number;
  to: number;
  trackingNumber: string | null;
  /** Orders strictly before this (created_at, id) in the newest-first order. */
  before: { createdAt: number; id: string } | null;
  limit: number;
}

/** The store side (store/sql/customer-order-history.ts). */
export interface CustomerOrderHistory {
  list(filter: CustomerOrdersFilter): Promise<CustomerOrderSummary[]>;
}

const Cursor = z.tuple([z.number().int(), z.string()]);

function decodeCursor(after: string): { createdAt: number; id: string } {
  try {
    const [createdAt, id] = Cursor.parse(JSON.parse(Buffer.from(after, 'base64url').toString('utf8')));
    return { createdAt, id };
  } catch {
    throw new BackendError('INVALID_INPUT', 'after: not a cursor this API returned');
  }
}

export async function listCustomerOrders(history: CustomerOrderHistory, q: CustomerOrdersQuery): Promise<CustomerOrdersPage> {
  const orders = await history.list({
    email: q.email,
    status: q.status ?? null,
    from: q.from ?? 0,
    to: q.to ?? Number.MAX_SAFE_INTEGER,
    trackingNumber: q.trackingNumber ?? null,
    before: q.after === undefined ? null : decodeCursor(q.after),
    limit: q.limit,
  });
  const last = orders[orders.length - 1];
  return orders.length === q.limit && last !== undefined ? { orders, next: Buffer.from(JSON.stringify([last.createdAt, last.orderId])).toString('base64url') } : { orders };
}
