import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { idempotent, type IdempotencyKeyArg, type IdempotentResult } from '../shared/idempotency.js';
import type { Logger } from '../shared/logger.js';
import type { PaymentProvider, PaymentResult } from '../payments/payment-provider.js';
import type { OrderLineRecord, OrderRecord, RefundRecord, StateLogEntry } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { OrderTransitions } from './order-transitions.js';
import { OrderView, type CancelRequest, type PlaceOrderRequest } from './order-schemas.js';
import { orderView } from './order-view.js';
import { queueRefund, refundKey, unansweredBackoffMs } from './refunds.js';
import type { ShipmentService } from './shipment-service.js';
import { linesCents } from './lines-cents.js';
import { releaseSpareHolds } from './order-holds.js';
import { PaymentCapture } from './payment-capture.js';

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

/**
 * How long a refund taken by one instance stays its own: longer than a provider call can
 * take, so a live instance never loses a refund mid-call; a crashed instance's refunds are
 * taken again after it lapses, and the per-refund idempotency key makes the provider pay
 * once even then.
 */
const REFUND_LEASE_MS = 60_000;
const REFUND_BATCH = 50;

export class OrderService {
  private readonly log: Logger;
  private readonly capture: PaymentCapture;
  private refunding: Promise<number> | undefined;

  constructor(private readonly d: OrderServiceDeps) {
    this.log = d.logger.child({ component: 'orders' });
    this.capture = new PaymentCapture(d, () => this.payOutRefundsSoon());
  }

  place(idempotencyKey: IdempotencyKeyArg, req: PlaceOrderRequest): Promise<IdempotentResult<OrderView>> {
    const { store, clock } = this.d;
    const now = clock.now();
    return idempotent(store, 'order', idempotencyKey, req, now, 201, OrderView, async () => {
      const id = newId('ord');
      for (const rid of req.reservationIds) {
        const r = await store.reservations.get(rid);
        if (r === undefined) throw notFound('reservation', rid);
        if (r.orderRef !== req.orderRef) throw new BackendError('BUSINESS_RULE', 'reservation belongs to another checkout', { reservationId: rid });
        if (!(await store.reservations.confirm(rid, id, now))) {
          throw new BackendError('BUSINESS_RULE', 'reservation is no longer held (expired or released)', { reservationId: rid, status: r.status });
        }
        await store.stateLog.append({ entity: 'reservation', entityId: rid, from: 'held', to: 'confirmed', event: 'confirm', actor: 'checkout', reason: `order ${id}`, at: now });
      }
      const customer: OrderRecord['customer'] = { name: req.customer.name };
      if (req.customer.email !== undefined) customer.email = req.customer.email;
      if (req.customer.phone !== undefined) customer.phone = req.customer.phone;
      if (req.customer.customerId !== undefined) customer.customerId = req.customer.customerId;
      const order: OrderRecord = {
        id,
        state: 'placed',
        customer,
        totalCents: linesCents(req.lines),
        currency: req.currency,
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      const lines: OrderLineRecord[] = req.lines.map((l) => ({ orderId: id, lineId: l.lineId, sku: l.sku, quantity: l.quantity, unitPriceCents: l.unitPriceCents, size: l.size, state: 'open' }));
      await store.orders.insert(order, lines);
      await store.stateLog.append({ entity: 'order', entityId: id, to: 'placed', event: 'place', actor: 'checkout', reason: `orderRef ${req.orderRef}`, at: now });
      await this.d.transitions.notify(order, 'order.placed', `order.placed:${id}`, { orderId: id });
      this.log.info({ orderId: id, lines: lines.length, reservations: req.reservationIds.length }, 'order.placed');
      return orderView(store, order);
    });
  }

  async get(id: string): Promise<OrderView> {
    const o = await this.d.store.orders.get(id);
    if (o === undefined) throw notFound('order', id);
    return orderView(this.d.store, o);
  }

  async history(id: string): Promise<StateLogEntry[]> {
    const { store } = this.d;
    if ((await store.orders.get(id)) === undefined) throw notFound('order', id);
    const entries = [...(await store.stateLog.list('order', id))];
    for (const s of await store.shipments.byOrder(id)) entries.push(...(await store.stateLog.list('shipment', s.id)));
    return entries.sort((a, b) => a.at - b.at);
  }

  /** Captures the payment with the provider, then records payment_confirmed (orders/payment-capture.ts). */
  confirmPayment(id: string, actor: string): Promise<OrderView> {
    return this.capture.confirm(id, actor);
  }

  startProcessing(id: string, actor: string): Promise<OrderView> {
    const { store, transitions } = this.d;
    return store.transaction(async () => {
      const o = await store.orders.get(id);
      if (o === undefined) throw notFound('order', id);
      return orderView(store, await transitions.order(o, { type: 'start_processing' }, { actor }));
    });
  }

  /**
   * Cancels the whole order (no ids) or some lines and shipments, before they ship.
   * Releases reservations, revokes codes on the lockers, refunds what was paid for.
   */
  async cancel(id: string, req: CancelRequest, actor: string): Promise<OrderView> {
    const { store, transitions, clock } = this.d;
    const who = { actor, reason: req.reason };
    const view = await store.transaction(async () => {
      const seen = await store.orders.get(id);
      if (seen === undefined) throw notFound('order', id);
      if (seen.state === 'cancelled') return orderView(store, seen);
      // Locked before its lines and shipments are read: a shipment created or a parcel
      // moved meanwhile on another instance is either seen here or waits for this.
      const o = await transitions.lockOrder(id);
      if (o.state === 'cancelled') return orderView(store, o);
      const whole = req.lineIds === undefined && req.shipmentIds === undefined;
      const lines = await store.orders.lines(id);
      const shipments = await store.shipments.byOrder(id);
      const shipmentIds = new Set(whole ? shipments.map((s) => s.id) : (req.shipmentIds ?? []));
      for (const sid of shipmentIds) if (!shipments.some((s) => s.id === sid)) throw notFound('shipment', sid);
      const lineIds = new Set(whole ? lines.map((l) => l.lineId) : (req.lineIds ?? []));
      // Parcels a listed line is packed in: each must still be in the warehouse, and goes
      // only when none of its open lines stays (cancelling one item of a parcel takes that
      // item out, it does not cancel what the customer still wants).
      const touched = new Set<string>();
      for (const lid of lineIds) {
        const line = lines.find((l) => l.lineId === lid);
        if (line === undefined) throw notFound('line', lid);
        if (line.shipmentId !== undefined) touched.add(line.shipmentId);
      }
      for (const sid of touched) {
        if (!lines.some((l) => l.shipmentId === sid && l.state === 'open' && !lineIds.has(l.lineId))) shipmentIds.add(sid);
      }
      // A parcel the carrier sent back is over already (its lines refunded with the return):
      // nothing of it to cancel, and nothing to refund twice.
      for (const s of shipments) {
        if (s.state !== 'returned_to_sender') continue;
        shipmentIds.delete(s.id);
        touched.delete(s.id);
        for (const l of lines) if (l.shipmentId === s.id) lineIds.delete(l.lineId);
      }
      for (const s of shipments) {
        if (!(shipmentIds.has(s.id) || touched.has(s.id)) || s.state === 'cancelled') continue;
        if (s.state !== 'created') throw new BackendError('BUSINESS_RULE', 'shipment has left the warehouse and can no longer be cancelled', { shipmentId: s.id, state: s.state });
      }
      const cancelledLines = lines.filter((l) => l.state === 'open' && (lineIds.has(l.lineId) || (l.shipmentId !== undefined && shipmentIds.has(l.shipmentId))));
      for (const sid of shipmentIds) await this.d.shipments.cancelShipment(sid, who);
      await store.orders.setLines(id, cancelledLines.map((l) => l.lineId), { state: 'cancelled' });
      const after = whole ? await transitions.order(o, { type: 'cancel' }, who) : await transitions.refreshOrder(id, who);
      // Cancelled as a whole or line by line, or with every line left already in a parcel,
      // the order will use no hold again.
      await releaseSpareHolds(store, clock.now(), id, who, this.log);
      const amount = linesCents(cancelledLines);
      await queueRefund(store, clock.now(), after, amount, `cancelled: ${req.reason}`);
      return orderView(store, after);
    });
    // A capture whose answer was lost may have taken money the order does not know of, so
    // nothing was refunded for what was cancelled. A cancelled order's is asked now under its
    // key (recorded, it is refunded); unanswered, it stays pending for the refund pass. An
    // order still placed waits for the customer's retry, or the refund pass after a grace.
    if (view.state === 'cancelled' && (await this.resolveLostCaptureQuietly(id))) return this.get(id);
    this.payOutRefundsSoon();
    return view;
  }

  /** The cancellation is committed whatever happens here: a failure leaves the capture pending for the refund pass. */
  private async resolveLostCaptureQuietly(id: string): Promise<boolean> {
    try {
      return await this.capture.resolveIfLost(id);
    } catch (err) {
      this.log.error({ orderId: id, err: err instanceof Error ? err.message : String(err) }, 'payment.capture_resolve_failed');
      return false;
    }
  }

  /** Pays queued refunds out now rather than at the next sweep; a failure here is retried by the sweeper. */
  private payOutRefundsSoon(): void {
    this.processRefunds().catch((err: unknown) => this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'refunds.pass_failed'));
  }

  /**
   * Pays out pending refunds through the provider; each under its own idempotency key.
   * Concurrent calls in this process share the pass in flight; other instances take other
   * refunds (each refund is leased to the instance that took it).
   */
  processRefunds(): Promise<number> {
    this.refunding ??= this.refundPass().finally(() => {
      this.refunding = undefined;
    });
    return this.refunding;
  }

  private async refundPass(): Promise<number> {
    const { store, clock } = this.d;
    // First the captures whose answer was lost: money one of them took for a cancelled order
    // is queued as a refund here and paid below, in the same pass.
    await this.capture.resolveDue();
    let settled = 0;
    // One refund at a time, each on its own: one the provider cannot answer waits for its
    // backoff and holds up none of the others in the batch.
    for (const r of await store.refunds.claimPending(clock.now(), REFUND_LEASE_MS, REFUND_BATCH)) {
      if (await this.payOut(r)) settled++;
    }
    return settled;
  }

  private async payOut(r: RefundRecord): Promise<boolean> {
    const { store, payments, clock } = this.d;
    const o = await store.orders.get(r.orderId);
    if (o?.paymentRef === undefined) return false;
    const retries = r.retries ?? 0;
    let result: PaymentResult;
    try {
      result = await payments.refund({ paymentRef: o.paymentRef, amountCents: r.amountCents, currency: o.currency, idempotencyKey: refundKey(r.id, retries) });
    } catch (err) {
      // No answer: the provider may have paid. Asked again under the same key after a backoff.
      const error = err instanceof Error ? err.message : String(err);
      const wait = unansweredBackoffMs(r.unanswered ?? 0);
      await store.refunds.defer(r.id, retries, clock.now() + wait, error, clock.now());
      this.log.warn({ refundId: r.id, orderId: o.id, unanswered: (r.unanswered ?? 0) + 1, retryInMs: wait, err: error }, 'refund.unanswered');
      return false;
    }
    return store.transaction(async () => {
      const outcome = result.ok ? ({ state: 'succeeded', providerRef: result.providerRef } as const) : ({ state: 'failed', error: result.reason } as const);
      if (!(await store.refunds.settle(r.id, retries, outcome, clock.now()))) return false;
      await store.stateLog.append({ entity: 'refund', entityId: r.id, from: 'pending', to: outcome.state, event: 'settle', actor: 'payments', reason: result.ok ? undefined : result.reason, at: clock.now() });
      if (result.ok) await this.d.transitions.notify(o, 'refund.paid', `refund.paid:${r.id}`, { orderId: o.id, amountCents: r.amountCents, currency: o.currency });
      // Declined: it stays failed for an operator (GET /admin/refunds, backend_refunds_failed) to send again.
      else this.log.error({ refundId: r.id, orderId: o.id, amountCents: r.amountCents, retries, reason: result.reason }, 'refund.declined');
      return true;
    });
  }

  /**
   * Sends a refund the provider declined again (an operator's decision, e.g. once the
   * customer's account is fixed), as a new retry under a new key. A refund already queued
   * again is left as it is (a second click queues nothing more); a paid one is refused.
   */
  async retryRefund(id: string, actor: string): Promise<RefundRecord> {
    const { store, clock } = this.d;
    const view = await store.transaction(async () => {
      const r = await store.refunds.get(id);
      if (r === undefined) throw notFound('refund', id);
      if (r.state === 'pending') return r;
      if (r.state === 'succeeded') throw new BackendError('INVALID_TRANSITION', 'refund was paid already', { refundId: id });
      if (!(await store.refunds.retry(id, r.retries ?? 0, clock.now()))) throw new BackendError('CONFLICT', 'refund changed concurrently; retry', { refundId: id });
      await store.stateLog.append({ entity: 'refund', entityId: id, from: 'failed', to: 'pending', event: 'retry', actor, reason: `retry ${String((r.retries ?? 0) + 1)}`, at: clock.now() });
      this.log.info({ refundId: id, orderId: r.orderId, retries: (r.retries ?? 0) + 1, actor }, 'refund.retry');
      const after = await store.refunds.get(id);
      if (after === undefined) throw notFound('refund', id);
      return after;
    });
    this.payOutRefundsSoon();
    return view;
  }
}
