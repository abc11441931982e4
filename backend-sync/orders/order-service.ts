import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { idempotent, type IdempotentResult } from '../shared/idempotency.js';
import type { Logger } from '../shared/logger.js';
import type { PaymentProvider } from '../payments/payment-provider.js';
import type { OrderLineRecord, OrderRecord, StateLogEntry } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { OrderTransitions } from './order-transitions.js';
import type { CancelRequest, OrderView, PlaceOrderRequest } from './order-schemas.js';
import { orderView } from './order-view.js';
import { queueRefund } from './refunds.js';
import type { ShipmentService } from './shipment-service.js';

// Order placement, payment, processing, cancellation and refunds. Placement confirms the
// checkout holds in the same transaction as the order insert and its idempotency record:
// either the order exists with its compartments, or nothing happened.

export interface OrderServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  payments: PaymentProvider;
  transitions: OrderTransitions;
  shipments: ShipmentService;
}

export class OrderService {
  private readonly log: Logger;

  constructor(private readonly d: OrderServiceDeps) {
    this.log = d.logger.child({ component: 'orders' });
  }

  place(idempotencyKey: string, req: PlaceOrderRequest): IdempotentResult<OrderView> {
    const { store, clock } = this.d;
    const now = clock.now();
    return idempotent(store, 'order', idempotencyKey, req, now, 201, () => {
      const id = newId('ord');
      for (const rid of req.reservationIds) {
        const r = store.reservations.get(rid);
        if (r === undefined) throw notFound('reservation', rid);
        if (r.orderRef !== req.orderRef) throw new BackendError('BUSINESS_RULE', 'reservation belongs to another checkout', { reservationId: rid });
        if (!store.reservations.confirm(rid, id, now)) {
          throw new BackendError('BUSINESS_RULE', 'reservation is no longer held (expired or released)', { reservationId: rid, status: r.status });
        }
        store.stateLog.append({ entity: 'reservation', entityId: rid, from: 'held', to: 'confirmed', event: 'confirm', actor: 'checkout', reason: `order ${id}`, at: now });
      }
      const customer: OrderRecord['customer'] = { name: req.customer.name };
      if (req.customer.email !== undefined) customer.email = req.customer.email;
      if (req.customer.phone !== undefined) customer.phone = req.customer.phone;
      const order: OrderRecord = {
        id,
        state: 'placed',
        customer,
        totalCents: req.lines.reduce((n, l) => n + l.quantity * l.unitPriceCents, 0),
        currency: req.currency,
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      const lines: OrderLineRecord[] = req.lines.map((l) => ({ orderId: id, lineId: l.lineId, sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents, size: l.size, state: 'open' }));
      store.orders.insert(order, lines);
      store.stateLog.append({ entity: 'order', entityId: id, to: 'placed', event: 'place', actor: 'checkout', reason: `orderRef ${req.orderRef}`, at: now });
      this.d.transitions.notify(order, 'order.placed', `order.placed:${id}`, { orderId: id });
      this.log.info({ orderId: id, lines: lines.length, reservations: req.reservationIds.length }, 'order.placed');
      return orderView(store, order);
    });
  }

  get(id: string): OrderView {
    const o = this.d.store.orders.get(id);
    if (o === undefined) throw notFound('order', id);
    return orderView(this.d.store, o);
  }

  history(id: string): StateLogEntry[] {
    const { store } = this.d;
    if (store.orders.get(id) === undefined) throw notFound('order', id);
    const entries = [...store.stateLog.list('order', id)];
    for (const s of store.shipments.byOrder(id)) entries.push(...store.stateLog.list('shipment', s.id));
    return entries.sort((a, b) => a.at - b.at);
  }

  /** Captures the payment with the provider, then records payment_confirmed. */
  async confirmPayment(id: string, actor: string): Promise<OrderView> {
    const { store, payments, transitions } = this.d;
    const o = store.orders.get(id);
    if (o === undefined) throw notFound('order', id);
    if (o.state !== 'placed') throw new BackendError('INVALID_TRANSITION', `order in state ${o.state} cannot confirm payment`, { orderId: id });
    const result = await payments.capture({ orderId: id, amountCents: o.totalCents, currency: o.currency, idempotencyKey: `capture:${id}` });
    if (!result.ok) throw new BackendError('BUSINESS_RULE', 'payment was declined', { orderId: id, reason: result.reason });
    return store.transaction(() => {
      const fresh = store.orders.get(id);
      if (fresh === undefined) throw notFound('order', id);
      store.orders.setPaymentRef(id, result.providerRef);
      const after = transitions.order({ ...fresh }, { type: 'confirm_payment' }, { actor });
      return orderView(store, after);
    });
  }

  startProcessing(id: string, actor: string): OrderView {
    const { store, transitions } = this.d;
    return store.transaction(() => {
      const o = store.orders.get(id);
      if (o === undefined) throw notFound('order', id);
      return orderView(store, transitions.order(o, { type: 'start_processing' }, { actor }));
    });
  }

  /**
   * Cancels the whole order (no ids) or some lines and shipments, before they ship.
   * Releases reservations, revokes codes on the lockers, refunds what was paid for.
   */
  cancel(id: string, req: CancelRequest, actor: string): OrderView {
    const { store, transitions, clock } = this.d;
    const who = { actor, reason: req.reason };
    const view = store.transaction(() => {
      const o = store.orders.get(id);
      if (o === undefined) throw notFound('order', id);
      if (o.state === 'cancelled') return orderView(store, o);
      const whole = req.lineIds === undefined && req.shipmentIds === undefined;
      const lines = store.orders.lines(id);
      const shipments = store.shipments.byOrder(id);
      const shipmentIds = new Set(whole ? shipments.map((s) => s.id) : (req.shipmentIds ?? []));
      for (const sid of shipmentIds) if (!shipments.some((s) => s.id === sid)) throw notFound('shipment', sid);
      const lineIds = new Set(whole ? lines.map((l) => l.lineId) : (req.lineIds ?? []));
      for (const lid of lineIds) {
        const line = lines.find((l) => l.lineId === lid);
        if (line === undefined) throw notFound('line', lid);
        if (line.shipmentId !== undefined) shipmentIds.add(line.shipmentId);
      }
      for (const s of shipments) {
        if (!shipmentIds.has(s.id) || s.state === 'cancelled') continue;
        if (s.state !== 'created') throw new BackendError('BUSINESS_RULE', 'shipment has left the warehouse and can no longer be cancelled', { shipmentId: s.id, state: s.state });
      }
      const cancelledLines = lines.filter((l) => l.state === 'open' && (lineIds.has(l.lineId) || (l.shipmentId !== undefined && shipmentIds.has(l.shipmentId))));
      for (const sid of shipmentIds) this.d.shipments.cancelShipment(sid, who);
      store.orders.setLines(id, cancelledLines.map((l) => l.lineId), { state: 'cancelled' });
      if (whole) {
        // Holds confirmed at placement that no shipment used yet.
        for (const r of store.reservations.byOrder(id)) {
          if (r.status === 'confirmed' && store.reservations.release(r.id, 'released', clock.now())) {
            store.stateLog.append({ entity: 'reservation', entityId: r.id, from: 'confirmed', to: 'released', event: 'release', actor, reason: req.reason, at: clock.now() });
          }
        }
      }
      const after = whole ? transitions.order(o, { type: 'cancel' }, who) : transitions.refreshOrder(id, who);
      const amount = cancelledLines.reduce((n, l) => n + l.quantity * l.unitPriceCents, 0);
      queueRefund(store, clock.now(), after, amount, `cancelled: ${req.reason}`);
      return orderView(store, after);
    });
    void this.processRefunds();
    return view;
  }

  /** Pays out pending refunds through the provider; each under its own idempotency key. */
  async processRefunds(): Promise<number> {
    const { store, payments, clock } = this.d;
    let settled = 0;
    for (const r of store.refunds.pending(50)) {
      const o = store.orders.get(r.orderId);
      if (o?.paymentRef === undefined) continue;
      const result = await payments.refund({ paymentRef: o.paymentRef, amountCents: r.amountCents, currency: o.currency, idempotencyKey: `refund:${r.id}` });
      store.transaction(() => {
        const state = result.ok ? 'succeeded' : 'failed';
        if (store.refunds.settle(r.id, state, result.ok ? result.providerRef : undefined, clock.now())) {
          store.stateLog.append({ entity: 'refund', entityId: r.id, from: 'pending', to: state, event: 'settle', actor: 'payments', reason: result.ok ? undefined : result.reason, at: clock.now() });
          if (result.ok) this.d.transitions.notify(o, 'refund.paid', `refund.paid:${r.id}`, { orderId: o.id, amountCents: r.amountCents, currency: o.currency });
          settled++;
        }
      });
    }
    return settled;
  }
}
