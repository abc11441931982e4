import type { OrderRecord, ShipmentRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { OrderView, ShipmentView } from './order-schemas.js';

// Read models for the API: what a merchant or customer page sees. No code, no token.

export function shipmentView(s: ShipmentRecord, lineIds: string[]): ShipmentView {
  const v: ShipmentView = { id: s.id, orderId: s.orderId, state: s.state, carrier: s.carrier, trackingNumber: s.trackingNumber, lineIds };
  if (s.lockerId !== undefined) v.lockerId = s.lockerId;
  if (s.compartmentId !== undefined) v.compartmentId = s.compartmentId;
  if (s.size !== undefined) v.size = s.size;
  if (s.reservationId !== undefined) v.reservationId = s.reservationId;
  if (s.pickupDeadline !== undefined) v.pickupDeadline = s.pickupDeadline;
  return v;
}

/** Reads sequentially: it is called inside transactions, where statements run one at a time. */
export async function orderView(store: Store, o: OrderRecord): Promise<OrderView> {
  const lines = await store.orders.lines(o.id);
  const shipments = await store.shipments.byOrder(o.id);
  const refunds = await store.refunds.byOrder(o.id);
  const customer: OrderView['customer'] = { name: o.customer.name };
  if (o.customer.email !== undefined) customer.email = o.customer.email;
  if (o.customer.phone !== undefined) customer.phone = o.customer.phone;
  if (o.customer.customerId !== undefined) customer.customerId = o.customer.customerId;
  return {
    id: o.id,
    state: o.state,
    customer,
    currency: o.currency,
    totalCents: o.totalCents,
    lines: lines.map((l) => {
      const line: OrderView['lines'][number] = { lineId: l.lineId, sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents, size: l.size, state: l.state };
      if (l.shipmentId !== undefined) line.shipmentId = l.shipmentId;
      return line;
    }),
    shipments: shipments.map((s) => shipmentView(s, lines.filter((l) => l.shipmentId === s.id).map((l) => l.lineId))),
    refunds: refunds.map((r) => ({ id: r.id, amountCents: r.amountCents, state: r.state, reason: r.reason })),
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  };
}
