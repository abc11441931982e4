import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { OrderRecord, ShipmentRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { deriveFulfilmentState, nextOrderState, type OrderEvent } from './order-state-machine.js';
import { nextShipmentState, type ShipmentEvent } from './shipment-state-machine.js';

// The one place that moves orders and shipments between states: asks the pure state
// machine, writes with an optimistic version check, appends to the state log and enqueues
// the customer notification for the new state — all inside the caller's transaction, so a
// notification exists if and only if the transition happened (the outbox is fed by
// transitions, never by raw events). Callers that change shipments lock the order first
// (lockOrder).

export interface Actor {
  actor: string;
  reason?: string | undefined;
}

/** Customer-facing notifications per state reached; absent: nothing to tell. */
const shipmentNotifications: Partial<Record<ShipmentRecord['state'], string>> = {
  shipped: 'shipment.shipped',
  out_for_delivery: 'shipment.out_for_delivery',
  delivered: 'parcel.ready_for_pickup',
  collected: 'parcel.collected',
  expired: 'parcel.expired',
  return_requested: 'return.code_issued',
  returned: 'return.completed',
  returned_to_sender: 'shipment.returned_to_sender',
  cancelled: 'shipment.cancelled',
};
/** Events whose notice is not the state reached: an expired drop-off code leaves the parcel collected, but "collected" is not the news. */
const shipmentEventNotifications: Partial<Record<ShipmentEvent, string>> = {
  expire_return: 'return.code_expired',
};
const orderNotifications: Partial<Record<OrderRecord['state'], string>> = {
  placed: 'order.placed',
  payment_confirmed: 'order.payment_confirmed',
  cancelled: 'order.cancelled',
};

export class OrderTransitions {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  /**
   * Takes the order for the rest of the caller's transaction and returns it as it stands
   * now. An order's state is derived from its shipments and lines, so a transaction that
   * changes them must not decide from reads that miss a concurrent one's commit (two
   * parcels of one order deposited on two instances would both see the other as still on
   * its way, and the order would stay partially delivered). The lock is a conditional
   * version bump: on PostgreSQL a concurrent transaction on the same order waits for this
   * one's commit and then reads what it committed; SQLite's write transaction is exclusive
   * anyway. Take it before writing any of the order's shipments, so every transaction
   * locks an order before its shipments and none waits on another in a cycle.
   */
  async lockOrder(orderId: string): Promise<OrderRecord> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const o = await this.store.orders.get(orderId);
      if (o === undefined) throw notFound('order', orderId);
      const now = this.clock.now();
      if (await this.store.orders.updateState(o.id, o.state, o.version, now)) return { ...o, version: o.version + 1, updatedAt: now };
    }
    throw new BackendError('CONFLICT', 'order changed concurrently; retry', { orderId });
  }

  /**
   * Moves a shipment; throws INVALID_TRANSITION when the machine refuses. `extra` lands in
   * the notification payload; `quiet`: no notice for this step (one that moves on in the
   * same transaction, whose next state's notice is the news).
   */
  async shipment(s: ShipmentRecord, event: ShipmentEvent, who: Actor, patch: Partial<ShipmentRecord> = {}, extra: Record<string, unknown> = {}, opts: { quiet?: boolean } = {}): Promise<ShipmentRecord> {
    const result = nextShipmentState(s.state, event);
    if (!result.ok) throw new BackendError('INVALID_TRANSITION', result.reason, { shipmentId: s.id, state: s.state, event });
    const now = this.clock.now();
    if (!(await this.store.shipments.update(s.id, s.version, { ...patch, state: result.next }, now))) {
      throw new BackendError('CONFLICT', 'shipment changed concurrently; retry', { shipmentId: s.id });
    }
    await this.store.stateLog.append({ entity: 'shipment', entityId: s.id, from: s.state, to: result.next, event, actor: who.actor, reason: who.reason, at: now });
    const kind = shipmentEventNotifications[event] ?? shipmentNotifications[result.next];
    const order = await this.store.orders.get(s.orderId);
    if (kind !== undefined && order !== undefined && opts.quiet !== true) {
      await this.notify(order, kind, `${kind}:${s.id}:${String(s.version + 1)}`, { orderId: s.orderId, shipmentId: s.id, trackingNumber: s.trackingNumber, ...extra });
    }
    this.logger.info({ shipmentId: s.id, from: s.state, to: result.next, event }, 'shipment.transition');
    const after = await this.store.shipments.get(s.id);
    if (after === undefined) throw notFound('shipment', s.id);
    return after;
  }

  /** Applies an order-level event. */
  async order(o: OrderRecord, event: OrderEvent, who: Actor): Promise<OrderRecord> {
    const result = nextOrderState(o.state, event);
    if (!result.ok) throw new BackendError('INVALID_TRANSITION', result.reason, { orderId: o.id, state: o.state, event: event.type });
    if (result.next === o.state) return o;
    const now = this.clock.now();
    if (!(await this.store.orders.updateState(o.id, result.next, o.version, now))) throw new BackendError('CONFLICT', 'order changed concurrently; retry', { orderId: o.id });
    await this.store.stateLog.append({ entity: 'order', entityId: o.id, from: o.state, to: result.next, event: event.type === 'fulfilment' ? `fulfilment:${event.derived}` : event.type, actor: who.actor, reason: who.reason, at: now });
    const kind = orderNotifications[result.next];
    if (kind !== undefined) await this.notify(o, kind, `${kind}:${o.id}`, { orderId: o.id });
    this.logger.info({ orderId: o.id, from: o.state, to: result.next }, 'order.transition');
    const after = await this.store.orders.get(o.id);
    if (after === undefined) throw notFound('order', o.id);
    return after;
  }

  /** Recomputes the order's state from its shipments and lines, and moves it there if it changed (the caller locked the order). */
  async refreshOrder(orderId: string, who: Actor): Promise<OrderRecord> {
    const o = await this.store.orders.get(orderId);
    if (o === undefined) throw notFound('order', orderId);
    if (o.state === 'cancelled' || o.state === 'returned') return o;
    const lines = await this.store.orders.lines(orderId);
    // Before processing there is no fulfilment to derive, but an order with nothing left to
    // sell is over: left placed, it could still be charged for no goods.
    if (o.state === 'placed' || o.state === 'payment_confirmed') return lines.some((l) => l.state === 'open') ? o : this.order(o, { type: 'cancel' }, who);
    const shipments = (await this.store.shipments.byOrder(orderId)).map((s) => s.state);
    const unshipped = lines.filter((l) => l.state === 'open' && l.shipmentId === undefined).length;
    const derived = deriveFulfilmentState(shipments, unshipped);
    if (derived === o.state) return o;
    return this.order(o, derived === 'cancelled' ? { type: 'cancel' } : { type: 'fulfilment', derived }, who);
  }

  /** Enqueues a notification once per dedupe key (in the caller's transaction). */
  async notify(order: OrderRecord, kind: string, dedupeKey: string, payload: Record<string, unknown>): Promise<void> {
    const now = this.clock.now();
    await this.store.notifications.enqueue({
      id: newId('ntf'),
      dedupeKey,
      kind,
      recipient: order.customer,
      payload,
      state: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      createdAt: now,
    });
  }
}
