import { z } from 'zod';
import { orderStates } from '../../orders/order-state-machine.js';
import { shipmentStates } from '../../orders/shipment-state-machine.js';
import type { CustomerOrderHistory, CustomerOrdersFilter, CustomerOrderSummary } from '../../tracking/customer-orders.js';
import { TrackingStatus } from '../../tracking/tracking-event.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// A customer's orders (tracking/customer-orders.ts): one indexed range read on
// (customer_email, created_at, id), then the listed orders' shipments with their tracking
// status in one more statement.

const list = sql(
  `SELECT o.id, o.state, o.total_cents, o.currency, o.created_at FROM orders o
   WHERE o.customer_email = @email
     AND (CAST(@status AS TEXT) IS NULL OR o.state = CAST(@status AS TEXT))
     AND o.created_at >= @from AND o.created_at < @to
     AND (CAST(@tn AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id AND s.tracking_number = CAST(@tn AS TEXT)))
     AND (o.created_at < @beforeAt OR (o.created_at = @beforeAt AND o.id < @beforeId))
   ORDER BY o.created_at DESC, o.id DESC LIMIT @limit`,
);
const shipmentsOf = sqlPer({
  sqlite: `SELECT s.order_id, s.id, s.state, s.carrier, s.tracking_number, t.status AS tracking_status FROM shipments s
           LEFT JOIN tracking_state t ON t.tracking_number = s.tracking_number
           WHERE s.order_id IN (SELECT value FROM json_each(?)) ORDER BY s.created_at, s.id`,
  postgres: `SELECT s.order_id, s.id, s.state, s.carrier, s.tracking_number, t.status AS tracking_status FROM shipments s
           LEFT JOIN tracking_state t ON t.tracking_number = s.tracking_number
           WHERE s.order_id IN (SELECT json_array_elements_text(?::json)) ORDER BY s.created_at, s.id`,
});

const OrderState = z.enum(orderStates);
const ShipmentState = z.enum(shipmentStates);

export class SqlCustomerOrderHistory implements CustomerOrderHistory {
  constructor(private readonly x: SqlExecutor) {}

  async list(f: CustomerOrdersFilter): Promise<CustomerOrderSummary[]> {
    const rows = await this.x.all<{ id: string; state: string; total_cents: number; currency: string; created_at: number }>(list, {
      email: f.email,
      status: f.status,
      from: f.from,
      to: f.to,
      tn: f.trackingNumber,
      beforeAt: f.before?.createdAt ?? Number.MAX_SAFE_INTEGER,
      beforeId: f.before?.id ?? '',
      limit: f.limit,
    });
    if (rows.length === 0) return [];
    const byOrder = new Map<string, CustomerOrderSummary['shipments']>();
    const ships = await this.x.all<{ order_id: string; id: string; state: string; carrier: string; tracking_number: string; tracking_status: string | null }>(shipmentsOf, [JSON.stringify(rows.map((r) => r.id))]);
    for (const s of ships) {
      const list = byOrder.get(s.order_id) ?? [];
      list.push({ shipmentId: s.id, state: ShipmentState.parse(s.state), carrier: s.carrier, trackingNumber: s.tracking_number, trackingStatus: s.tracking_status === null ? null : TrackingStatus.parse(s.tracking_status) });
      byOrder.set(s.order_id, list);
    }
    return rows.map((r) => ({ orderId: r.id, state: OrderState.parse(r.state), totalCents: r.total_cents, currency: r.currency, createdAt: r.created_at, shipments: byOrder.get(r.id) ?? [] }));
  }
}
