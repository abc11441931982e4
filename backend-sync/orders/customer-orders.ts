import { z } from 'zod';
import { decodeKeysetCursor, decimalQuery, encodeKeysetCursor } from '../shared/keyset-page.js';
import type { Store } from '../store/store.js';
import { lookupKey } from './customer-key.js';
import { orderStates } from './order-state-machine.js';
import { shipmentStates } from './shipment-state-machine.js';

// A customer's order history: their orders newest first, filtered by state, creation time
// and tracking number, in keyset pages (a cursor names the last order of a page, so a page
// never repeats or skips an order when new ones arrive meanwhile, and page N costs what
// page 1 costs). Summaries only: the full order stays at GET /orders/{orderId}.

export const CustomerOrdersParams = z.object({
  /** The merchant's customer id, or the customer's email for orders placed without one. */
  customerId: z.string().min(1).max(254),
});

export const CustomerOrdersQuery = z
  .object({
    status: z.enum(orderStates).optional(),
    /** Epoch ms, inclusive. */
    from: decimalQuery('from (epoch milliseconds)').optional(),
    /** Epoch ms, exclusive. */
    to: decimalQuery('to (epoch milliseconds)').optional(),
    /** As the customer types it: spaces around it and letter case do not matter. */
    trackingNumber: z.string().trim().min(1).max(64).optional(),
    /** nextCursor of the previous page. */
    after: z.string().min(1).max(200).optional(),
    limit: decimalQuery('limit').pipe(z.number().int().min(1).max(100)).default(20).describe('orders per page, 1 to 100 (default 20)'),
  })
  .strict()
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, { message: 'from must be before to', path: ['to'] });
export type CustomerOrdersQuery = z.infer<typeof CustomerOrdersQuery>;

export const CustomerOrderSummary = z.object({
  id: z.string(),
  state: z.enum(orderStates),
  totalCents: z.number().int(),
  currency: z.string(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  shipments: z.array(z.object({ id: z.string(), state: z.enum(shipmentStates), carrier: z.string(), trackingNumber: z.string(), lockerId: z.string().optional() })),
});
export type CustomerOrderSummary = z.infer<typeof CustomerOrderSummary>;

export const CustomerOrderPage = z.object({
  orders: z.array(CustomerOrderSummary),
  /** Present when there may be more: pass it as `after`. */
  nextCursor: z.string().optional(),
});
export type CustomerOrderPage = z.infer<typeof CustomerOrderPage>;

/** A page's cursor: the last order's (createdAt, id). */
export function encodeCursor(createdAt: number, id: string): string {
  return encodeKeysetCursor(createdAt, id);
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const { at, id } = decodeKeysetCursor(cursor, 64);
  return { createdAt: at, id };
}

export async function listCustomerOrders(store: Store, customerId: string, q: CustomerOrdersQuery): Promise<CustomerOrderPage> {
  // One more than asked tells whether another page exists without a count.
  const rows = await store.orders.listByCustomer({
    customerKey: lookupKey(customerId),
    state: q.status,
    from: q.from,
    to: q.to,
    trackingNumber: q.trackingNumber,
    after: q.after === undefined ? undefined : decodeCursor(q.after),
    limit: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  const shipments = await store.shipments.byOrders(page.map((o) => o.id));
  const orders = page.map((o): CustomerOrderSummary => ({
    id: o.id,
    state: o.state,
    totalCents: o.totalCents,
    currency: o.currency,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    shipments: shipments
      .filter((s) => s.orderId === o.id)
      .map((s) => ({ id: s.id, state: s.state, carrier: s.carrier, trackingNumber: s.trackingNumber, ...(s.lockerId === undefined ? {} : { lockerId: s.lockerId }) })),
  }));
  const last = page[page.length - 1];
  return rows.length > q.limit && last !== undefined ? { orders, nextCursor: encodeCursor(last.createdAt, last.id) } : { orders };
}
