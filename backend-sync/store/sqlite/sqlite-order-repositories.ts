import type { CompartmentSize } from '../../shared/contract.js';
import type { OrderState } from '../../orders/order-state-machine.js';
import type { ShipmentState } from '../../orders/shipment-state-machine.js';
import type { Customer, OrderLineRecord, OrderRecord, ShipmentRecord } from '../records.js';
import type { OrderRepository, ShipmentRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Orders, their lines and shipments: the order aggregate's tables. Updates are optimistic
// (WHERE version = ?), so two writers deciding from the same read cannot both win.

interface OrderRow {
  id: string;
  state: OrderState;
  customer_json: string;
  total_cents: number;
  currency: string;
  payment_ref: string | null;
  version: number;
  created_at: number;
  updated_at: number;
}

interface LineRow {
  order_id: string;
  line_id: string;
  sku: string;
  quantity: number;
  unit_price_cents: number;
  size: CompartmentSize;
  state: 'open' | 'cancelled';
  shipment_id: string | null;
}

interface ShipmentRow {
  id: string;
  order_id: string;
  state: ShipmentState;
  carrier: string;
  tracking_number: string;
  reservation_id: string | null;
  locker_id: string | null;
  compartment_id: string | null;
  size: CompartmentSize | null;
  pickup_token_id: string | null;
  code_digest: string | null;
  pickup_deadline: number | null;
  return_token_id: string | null;
  version: number;
  created_at: number;
  updated_at: number;
}

const orderOf = (r: OrderRow): OrderRecord => {
  const o: OrderRecord = {
    id: r.id,
    state: r.state,
    customer: JSON.parse(r.customer_json) as Customer,
    totalCents: r.total_cents,
    currency: r.currency,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.payment_ref !== null) o.paymentRef = r.payment_ref;
  return o;
};

const lineOf = (r: LineRow): OrderLineRecord => {
  const l: OrderLineRecord = { orderId: r.order_id, lineId: r.line_id, sku: r.sku, quantity: r.quantity, unitPriceCents: r.unit_price_cents, size: r.size, state: r.state };
  if (r.shipment_id !== null) l.shipmentId = r.shipment_id;
  return l;
};

const shipmentOf = (r: ShipmentRow): ShipmentRecord => {
  const s: ShipmentRecord = {
    id: r.id,
    orderId: r.order_id,
    state: r.state,
    carrier: r.carrier,
    trackingNumber: r.tracking_number,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.reservation_id !== null) s.reservationId = r.reservation_id;
  if (r.locker_id !== null) s.lockerId = r.locker_id;
  if (r.compartment_id !== null) s.compartmentId = r.compartment_id;
  if (r.size !== null) s.size = r.size;
  if (r.pickup_token_id !== null) s.pickupTokenId = r.pickup_token_id;
  if (r.code_digest !== null) s.codeDigest = r.code_digest;
  if (r.pickup_deadline !== null) s.pickupDeadline = r.pickup_deadline;
  if (r.return_token_id !== null) s.returnTokenId = r.return_token_id;
  return s;
};

export class SqliteOrderRepository implements OrderRepository {
  private readonly s;
  constructor(private readonly db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO orders (id, state, customer_json, total_cents, currency, payment_ref, version, created_at, updated_at)
         VALUES (@id, @state, @customer, @total, @currency, NULL, 1, @now, @now)`,
      ),
      insertLine: db.prepare(
        `INSERT INTO order_lines (order_id, line_id, sku, quantity, unit_price_cents, size, state) VALUES (@orderId, @lineId, @sku, @quantity, @price, @size, 'open')`,
      ),
      get: db.prepare<[string], OrderRow>('SELECT * FROM orders WHERE id = ?'),
      lines: db.prepare<[string], LineRow>('SELECT * FROM order_lines WHERE order_id = ? ORDER BY line_id'),
      update: db.prepare<{ id: string; state: string; v: number; now: number }>(
        'UPDATE orders SET state = @state, version = version + 1, updated_at = @now WHERE id = @id AND version = @v',
      ),
      paymentRef: db.prepare<[string, string]>('UPDATE orders SET payment_ref = ? WHERE id = ?'),
    };
  }
  insert(o: OrderRecord, lines: readonly OrderLineRecord[]): void {
    this.s.insert.run({ id: o.id, state: o.state, customer: JSON.stringify(o.customer), total: o.totalCents, currency: o.currency, now: o.createdAt });
    for (const l of lines) this.s.insertLine.run({ orderId: o.id, lineId: l.lineId, sku: l.sku, quantity: l.quantity, price: l.unitPriceCents, size: l.size });
  }
  get(id: string): OrderRecord | undefined {
    const r = this.s.get.get(id);
    return r === undefined ? undefined : orderOf(r);
  }
  lines(orderId: string): OrderLineRecord[] {
    return this.s.lines.all(orderId).map(lineOf);
  }
  updateState(id: string, state: OrderState, expectedVersion: number, now: number): boolean {
    return this.s.update.run({ id, state, v: expectedVersion, now }).changes === 1;
  }
  setPaymentRef(id: string, paymentRef: string): void {
    this.s.paymentRef.run(paymentRef, id);
  }
  setLines(orderId: string, lineIds: readonly string[], change: { state?: 'cancelled'; shipmentId?: string | null }): void {
    const sets: string[] = [];
    const args: unknown[] = [];
    if (change.state !== undefined) {
      sets.push('state = ?');
      args.push(change.state);
    }
    if (change.shipmentId !== undefined) {
      sets.push('shipment_id = ?');
      args.push(change.shipmentId);
    }
    if (sets.length === 0 || lineIds.length === 0) return;
    this.db
      .prepare(`UPDATE order_lines SET ${sets.join(', ')} WHERE order_id = ? AND line_id IN (SELECT value FROM json_each(?))`)
      .run(...args, orderId, JSON.stringify(lineIds));
  }
}

const shipmentColumns: Record<string, string> = {
  state: 'state',
  carrier: 'carrier',
  trackingNumber: 'tracking_number',
  reservationId: 'reservation_id',
  lockerId: 'locker_id',
  compartmentId: 'compartment_id',
  size: 'size',
  pickupTokenId: 'pickup_token_id',
  codeDigest: 'code_digest',
  pickupDeadline: 'pickup_deadline',
  returnTokenId: 'return_token_id',
};

export class SqliteShipmentRepository implements ShipmentRepository {
  private readonly s;
  constructor(private readonly db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO shipments (id, order_id, state, carrier, tracking_number, reservation_id, locker_id, compartment_id, size,
                                pickup_token_id, code_digest, version, created_at, updated_at)
         VALUES (@id, @orderId, @state, @carrier, @trackingNumber, @reservationId, @lockerId, @compartmentId, @size,
                 @pickupTokenId, @codeDigest, 1, @createdAt, @createdAt)`,
      ),
      get: db.prepare<[string], ShipmentRow>('SELECT * FROM shipments WHERE id = ?'),
      byOrder: db.prepare<[string], ShipmentRow>('SELECT * FROM shipments WHERE order_id = ? ORDER BY created_at, id'),
      setCode: db.prepare<[string | null, string]>('UPDATE shipments SET pending_code = ? WHERE id = ?'),
      takeCode: db.prepare<[string], { pending_code: string | null }>('SELECT pending_code FROM shipments WHERE id = ?'),
      pastDeadline: db.prepare<[number, number], ShipmentRow>(
        `SELECT * FROM shipments WHERE state = 'delivered' AND pickup_deadline <= ? ORDER BY pickup_deadline LIMIT ?`,
      ),
    };
  }
  insert(s: ShipmentRecord): void {
    this.s.insert.run({
      id: s.id,
      orderId: s.orderId,
      state: s.state,
      carrier: s.carrier,
      trackingNumber: s.trackingNumber,
      reservationId: s.reservationId ?? null,
      lockerId: s.lockerId ?? null,
      compartmentId: s.compartmentId ?? null,
      size: s.size ?? null,
      pickupTokenId: s.pickupTokenId ?? null,
      codeDigest: s.codeDigest ?? null,
      createdAt: s.createdAt,
    });
  }
  get(id: string): ShipmentRecord | undefined {
    const r = this.s.get.get(id);
    return r === undefined ? undefined : shipmentOf(r);
  }
  byOrder(orderId: string): ShipmentRecord[] {
    return this.s.byOrder.all(orderId).map(shipmentOf);
  }
  update(id: string, expectedVersion: number, patch: Partial<Omit<ShipmentRecord, 'id' | 'orderId' | 'version'>>, now: number): boolean {
    const sets = ['version = version + 1', 'updated_at = ?'];
    const args: unknown[] = [now];
    for (const [k, v] of Object.entries(patch)) {
      const col = shipmentColumns[k];
      if (col === undefined) continue;
      sets.push(`${col} = ?`);
      args.push(v ?? null);
    }
    return this.db.prepare(`UPDATE shipments SET ${sets.join(', ')} WHERE id = ? AND version = ?`).run(...args, id, expectedVersion).changes === 1;
  }
  setPendingCode(id: string, code: string | null): void {
    this.s.setCode.run(code, id);
  }
  takePendingCode(id: string): string | undefined {
    const code = this.s.takeCode.get(id)?.pending_code ?? undefined;
    if (code !== undefined) this.s.setCode.run(null, id);
    return code ?? undefined;
  }
  deliveredPastDeadline(now: number, limit: number): ShipmentRecord[] {
    return this.s.pastDeadline.all(now, limit).map(shipmentOf);
  }
}
