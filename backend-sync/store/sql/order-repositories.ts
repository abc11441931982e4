import type { CompartmentSize } from '../../shared/contract.js';
import type { OrderState } from '../../orders/order-state-machine.js';
import type { ShipmentState } from '../../orders/shipment-state-machine.js';
import type { OrderLineRecord, OrderRecord, ShipmentRecord } from '../records.js';
import { customerKey } from '../../orders/customer-key.js';
import type { CustomerOrderQuery, OrderRepository, ShipmentRepository } from '../store.js';
import { readJson } from './json-column.js';
import { StoredCustomer } from './stored-schemas.js';
import { atomically, type SqlExecutor } from './sql-executor.js';
import { sql, sqlPer, type SqlValue } from './sql-text.js';

// Orders, their lines and shipments: the order aggregate's tables. Updates are optimistic
// (WHERE version = ?), so two writers deciding from the same read cannot both win, on one
// SQLite file or across instances on PostgreSQL.

interface OrderRow {
  id: string;
  state: OrderState;
  customer_json: string;
  total_cents: number;
  currency: string;
  payment_ref: string | null;
  declined_captures: number;
  capture_pending: number | null;
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

function orderOf(r: OrderRow): OrderRecord {
  const o: OrderRecord = {
    id: r.id,
    state: r.state,
    customer: readJson(StoredCustomer, r.customer_json, { table: 'orders', column: 'customer_json', key: { id: r.id } }),
    totalCents: r.total_cents,
    currency: r.currency,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.payment_ref !== null) o.paymentRef = r.payment_ref;
  if (r.declined_captures > 0) o.declinedCaptures = r.declined_captures;
  if (r.capture_pending !== null) o.capturePending = r.capture_pending;
  return o;
}

function lineOf(r: LineRow): OrderLineRecord {
  const l: OrderLineRecord = { orderId: r.order_id, lineId: r.line_id, sku: r.sku, quantity: r.quantity, unitPriceCents: r.unit_price_cents, size: r.size, state: r.state };
  if (r.shipment_id !== null) l.shipmentId = r.shipment_id;
  return l;
}

function shipmentOf(r: ShipmentRow): ShipmentRecord {
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
}

const ORDER_COLUMNS = 'id, state, customer_json, total_cents, currency, payment_ref, declined_captures, capture_pending, version, created_at, updated_at';
const LINE_COLUMNS = 'order_id, line_id, sku, quantity, unit_price_cents, size, state, shipment_id';
const SHIPMENT_COLUMNS =
  'id, order_id, state, carrier, tracking_number, reservation_id, locker_id, compartment_id, size, pickup_token_id, code_digest, pickup_deadline, return_token_id, version, created_at, updated_at';

const insertOrder = sql(
  `INSERT INTO orders (id, state, customer_json, customer_id, total_cents, currency, payment_ref, version, created_at, updated_at)
   VALUES (@id, @state, @customer, @customerId, @total, @currency, NULL, 1, @now, @now)`,
);
const insertLine = sql(
  `INSERT INTO order_lines (order_id, line_id, sku, quantity, unit_price_cents, size, state) VALUES (@orderId, @lineId, @sku, @quantity, @price, @size, 'open')`,
);
const getOrder = sql(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`);
const lockOrderRow = sqlPer({
  sqlite: `SELECT id FROM orders WHERE id = ?`,
  postgres: `SELECT id FROM orders WHERE id = ? FOR UPDATE`,
});
const lines = sql(`SELECT ${LINE_COLUMNS} FROM order_lines WHERE order_id = ? ORDER BY line_id`);
const updateOrder = sql('UPDATE orders SET state = @state, version = version + 1, updated_at = @now WHERE id = @id AND version = @version');
const setPaymentRef = sql('UPDATE orders SET payment_ref = ?, capture_pending = NULL, capture_due_at = NULL WHERE id = ?');
// Only a decline of the pending attempt's key answers it: a late decline of an older key
// counts nothing and leaves the newer attempt pending.
const countDeclinedCapture = sql(
  `UPDATE orders SET declined_captures = declined_captures + 1,
     capture_pending = CASE WHEN capture_pending = declined_captures THEN NULL ELSE capture_pending END,
     capture_due_at = CASE WHEN capture_pending = declined_captures THEN NULL ELSE capture_due_at END
   WHERE id = ? AND declined_captures = ?`,
);
const markCapturePending = sql(
  `UPDATE orders SET capture_pending = @declined, capture_due_at = @dueAt
   WHERE id = @id AND declined_captures = @declined AND payment_ref IS NULL`,
);
// As RefundRepository.claimPending: one statement picks due rows nobody leases and leases them.
const PENDING_CAPTURE_PICK = `SELECT id FROM orders
   WHERE capture_pending IS NOT NULL AND capture_due_at <= @now AND (state = 'cancelled' OR capture_due_at <= @settled)
   ORDER BY capture_due_at, id LIMIT @limit`;
const claimPendingCapture = sql(
  `UPDATE orders SET capture_due_at = @until WHERE id = @id AND capture_pending IS NOT NULL AND capture_due_at <= @now RETURNING ${ORDER_COLUMNS}`,
);
const claimPendingCaptures = sqlPer({
  sqlite: `UPDATE orders SET capture_due_at = @until WHERE id IN (${PENDING_CAPTURE_PICK}) RETURNING ${ORDER_COLUMNS}`,
  postgres: `UPDATE orders SET capture_due_at = @until WHERE id IN (${PENDING_CAPTURE_PICK} FOR UPDATE SKIP LOCKED) RETURNING ${ORDER_COLUMNS}`,
});
// A customer's orders, newest first, one keyset page. Every filter is a flag and a value, so
// the text is fixed whatever the query holds; the index (customer_id, created_at, id) gives
// the order and the page boundary, the flags only thin the rows it walks.
const byCustomer = sql(
  `SELECT ${ORDER_COLUMNS} FROM orders o
   WHERE o.customer_id = @customerKey
     AND (@hasState = 0 OR o.state = @state)
     AND (@hasFrom = 0 OR o.created_at >= @from)
     AND (@hasTo = 0 OR o.created_at < @to)
     AND (@hasTracking = 0 OR EXISTS (SELECT 1 FROM shipments s WHERE s.order_id = o.id AND upper(s.tracking_number) = upper(@trackingNumber)))
     AND (@hasAfter = 0 OR o.created_at < @afterAt OR (o.created_at = @afterAt AND o.id < @afterId))
   ORDER BY o.created_at DESC, o.id DESC
   LIMIT @limit`,
);
// One statement for every combination of changes: a field not being changed keeps its
// value (COALESCE for the state; a flag for the shipment id, which may be set to NULL).
// The line ids travel as one JSON array, so the statement text never varies with their count.
const setLines = sqlPer({
  sqlite: `UPDATE order_lines SET state = COALESCE(@state, state), shipment_id = CASE WHEN @setShipment = 1 THEN @shipmentId ELSE shipment_id END
    WHERE order_id = @orderId AND line_id IN (SELECT value FROM json_each(@lineIds))`,
  postgres: `UPDATE order_lines SET state = COALESCE(@state, state), shipment_id = CASE WHEN @setShipment = 1 THEN @shipmentId ELSE shipment_id END
    WHERE order_id = @orderId AND line_id IN (SELECT value FROM json_array_elements_text(CAST(@lineIds AS json)))`,
});

/** The shipment fields `update` may patch, and their columns. */
const patchable = {
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
} as const satisfies Partial<Record<keyof ShipmentRecord, string>>;
type PatchableField = keyof typeof patchable;
const patchableFields = Object.keys(patchable) as PatchableField[];

const insertShipment = sql(
  `INSERT INTO shipments (id, order_id, state, carrier, tracking_number, reservation_id, locker_id, compartment_id, size,
                          pickup_token_id, code_digest, version, created_at, updated_at)
   VALUES (@id, @orderId, @state, @carrier, @trackingNumber, @reservationId, @lockerId, @compartmentId, @size,
           @pickupTokenId, @codeDigest, 1, @createdAt, @createdAt)`,
);
const getShipment = sql(`SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE id = ?`);
const shipmentsByOrder = sql(`SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE order_id = ? ORDER BY created_at, id`);
const shipmentsByOrders = sqlPer({
  sqlite: `SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE order_id IN (SELECT value FROM json_each(@orderIds)) ORDER BY order_id, created_at, id`,
  postgres: `SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE order_id IN (SELECT value FROM json_array_elements_text(CAST(@orderIds AS json))) ORDER BY order_id, created_at, id`,
});
const shipmentsByTracking = sql(`SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE tracking_number = ? ORDER BY created_at, id`);
// Every patchable column is written from a flag and a value: a column whose flag is 0
// keeps its value. One fixed statement, prepared once, whatever the patch holds.
const updateShipment = sql(
  `UPDATE shipments SET version = version + 1, updated_at = @now,
     ${patchableFields.map((f) => `${patchable[f]} = CASE WHEN @set_${patchable[f]} = 1 THEN @${patchable[f]} ELSE ${patchable[f]} END`).join(',\n     ')}
   WHERE id = @id AND version = @version`,
);
const setPendingCode = sql('UPDATE shipments SET pending_code = ? WHERE id = ?');
const readPendingCode = sql('SELECT pending_code FROM shipments WHERE id = ?');
// Compare-and-clear: of two callers that read the same code, only one clears it.
const clearPendingCode = sql('UPDATE shipments SET pending_code = NULL WHERE id = ? AND pending_code = ?');
// Several instances sweep at once: each takes parcels the others have not locked (the
// locks last as long as the caller's transaction).
const pastDeadline = sqlPer({
  sqlite: `SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE state = 'delivered' AND pickup_deadline <= ? ORDER BY pickup_deadline, id LIMIT ?`,
  postgres: `SELECT ${SHIPMENT_COLUMNS} FROM shipments WHERE state = 'delivered' AND pickup_deadline <= ? ORDER BY pickup_deadline, id LIMIT ? FOR UPDATE SKIP LOCKED`,
});

// Returns whose drop-off code lapsed unused: the partial index shipments_return_requested
// keeps this to the few shipments awaiting a drop-off. Locked like pastDeadline, so several
// instances sweep disjoint rows.
const RETURN_EXPIRED = `FROM shipments s JOIN code_entries e ON e.locker_id = s.locker_id AND e.token_id = s.return_token_id
   WHERE s.state = 'return_requested' AND e.expires_at <= ? ORDER BY e.expires_at, s.id LIMIT ?`;
const returnCodeExpired = sqlPer({
  sqlite: `SELECT ${SHIPMENT_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')} ${RETURN_EXPIRED}`,
  postgres: `SELECT ${SHIPMENT_COLUMNS.split(', ').map((c) => `s.${c}`).join(', ')} ${RETURN_EXPIRED} FOR UPDATE OF s SKIP LOCKED`,
});

export class SqlOrderRepository implements OrderRepository {
  constructor(private readonly x: SqlExecutor) {}

  insert(o: OrderRecord, orderLines: readonly OrderLineRecord[]): Promise<void> {
    return atomically(this.x, async () => {
      await this.x.run(insertOrder, { id: o.id, state: o.state, customer: JSON.stringify(o.customer), customerId: customerKey(o.customer) ?? null, total: o.totalCents, currency: o.currency, now: o.createdAt });
      for (const l of orderLines) {
        await this.x.run(insertLine, { orderId: o.id, lineId: l.lineId, sku: l.sku, quantity: l.quantity, price: l.unitPriceCents, size: l.size });
      }
    });
  }

  async get(id: string): Promise<OrderRecord | undefined> {
    const r = await this.x.one<OrderRow>(getOrder, [id]);
    return r === undefined ? undefined : orderOf(r);
  }

  async lockRow(id: string): Promise<void> {
    await this.x.one(lockOrderRow, [id]);
  }

  async lines(orderId: string): Promise<OrderLineRecord[]> {
    return (await this.x.all<LineRow>(lines, [orderId])).map(lineOf);
  }

  async updateState(id: string, state: OrderState, expectedVersion: number, now: number): Promise<boolean> {
    return (await this.x.run(updateOrder, { id, state, version: expectedVersion, now })) === 1;
  }

  async setPaymentRef(id: string, paymentRef: string): Promise<void> {
    await this.x.run(setPaymentRef, [paymentRef, id]);
  }

  async countDeclinedCapture(id: string, seen: number): Promise<boolean> {
    return (await this.x.run(countDeclinedCapture, [id, seen])) === 1;
  }

  async markCapturePending(id: string, declined: number, dueAt: number): Promise<boolean> {
    return (await this.x.run(markCapturePending, { id, declined, dueAt })) === 1;
  }

  async claimPendingCaptures(now: number, graceMs: number, leaseMs: number, limit: number): Promise<OrderRecord[]> {
    return (await this.x.all<OrderRow>(claimPendingCaptures, { now, settled: now - graceMs, until: now + leaseMs, limit })).map(orderOf);
  }

  async claimPendingCapture(id: string, now: number, leaseMs: number): Promise<OrderRecord | undefined> {
    const r = await this.x.one<OrderRow>(claimPendingCapture, { id, now, until: now + leaseMs });
    return r === undefined ? undefined : orderOf(r);
  }

  async setLines(orderId: string, lineIds: readonly string[], change: { state?: 'cancelled'; shipmentId?: string | null }): Promise<void> {
    if (lineIds.length === 0 || (change.state === undefined && change.shipmentId === undefined)) return;
    await this.x.run(setLines, {
      orderId,
      lineIds: JSON.stringify(lineIds),
      state: change.state ?? null,
      setShipment: change.shipmentId === undefined ? 0 : 1,
      shipmentId: change.shipmentId ?? null,
    });
  }

  async listByCustomer(q: CustomerOrderQuery): Promise<OrderRecord[]> {
    const rows = await this.x.all<OrderRow>(byCustomer, {
      customerKey: q.customerKey,
      hasState: q.state === undefined ? 0 : 1,
      state: q.state ?? '',
      hasFrom: q.from === undefined ? 0 : 1,
      from: q.from ?? 0,
      hasTo: q.to === undefined ? 0 : 1,
      to: q.to ?? 0,
      hasTracking: q.trackingNumber === undefined ? 0 : 1,
      trackingNumber: q.trackingNumber ?? '',
      hasAfter: q.after === undefined ? 0 : 1,
      afterAt: q.after?.createdAt ?? 0,
      afterId: q.after?.id ?? '',
      limit: q.limit,
    });
    return rows.map(orderOf);
  }
}

export class SqlShipmentRepository implements ShipmentRepository {
  constructor(private readonly x: SqlExecutor) {}

  async insert(s: ShipmentRecord): Promise<void> {
    await this.x.run(insertShipment, {
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

  async get(id: string): Promise<ShipmentRecord | undefined> {
    const r = await this.x.one<ShipmentRow>(getShipment, [id]);
    return r === undefined ? undefined : shipmentOf(r);
  }

  async byOrder(orderId: string): Promise<ShipmentRecord[]> {
    return (await this.x.all<ShipmentRow>(shipmentsByOrder, [orderId])).map(shipmentOf);
  }

  async byTrackingNumber(trackingNumber: string): Promise<ShipmentRecord[]> {
    return (await this.x.all<ShipmentRow>(shipmentsByTracking, [trackingNumber])).map(shipmentOf);
  }

  async update(id: string, expectedVersion: number, patch: Partial<Omit<ShipmentRecord, 'id' | 'orderId' | 'version'>>, now: number): Promise<boolean> {
    const params: Record<string, SqlValue> = { id, version: expectedVersion, now };
    for (const f of patchableFields) {
      // A field present with the value undefined clears the column, as it always has.
      const present = f in patch;
      params[`set_${patchable[f]}`] = present ? 1 : 0;
      params[patchable[f]] = present ? (patch[f] ?? null) : null;
    }
    return (await this.x.run(updateShipment, params)) === 1;
  }

  async setPendingCode(id: string, code: string | null): Promise<void> {
    await this.x.run(setPendingCode, [code, id]);
  }

  async takePendingCode(id: string): Promise<string | undefined> {
    const code = (await this.x.one<{ pending_code: string | null }>(readPendingCode, [id]))?.pending_code ?? null;
    if (code === null) return undefined;
    return (await this.x.run(clearPendingCode, [id, code])) === 1 ? code : undefined;
  }

  async deliveredPastDeadline(now: number, limit: number): Promise<ShipmentRecord[]> {
    return (await this.x.all<ShipmentRow>(pastDeadline, [now, limit])).map(shipmentOf);
  }

  async returnCodeExpired(before: number, limit: number): Promise<ShipmentRecord[]> {
    return (await this.x.all<ShipmentRow>(returnCodeExpired, [before, limit])).map(shipmentOf);
  }

  async byOrders(orderIds: readonly string[]): Promise<ShipmentRecord[]> {
    if (orderIds.length === 0) return [];
    return (await this.x.all<ShipmentRow>(shipmentsByOrders, { orderIds: JSON.stringify(orderIds) })).map(shipmentOf);
  }
}
