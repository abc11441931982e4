import type { CodeSetService } from '../codes/code-set-service.js';
import type { CodeBox } from '../keys/code-box.js';
import type { TokenService } from '../keys/token-service.js';
import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import { idempotent, type IdempotencyKeyArg, type IdempotentResult } from '../shared/idempotency.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { ReservationRecord, ShipmentRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import { ShipmentView, type CreateShipmentRequest } from './order-schemas.js';
import type { Actor, OrderTransitions } from './order-transitions.js';
import { shipmentView } from './order-view.js';
import { queueRefund } from './refunds.js';
import { nextShipmentState, type ShipmentState } from './shipment-state-machine.js';
import { CarrierCode, TrackingNumber, type TrackingIntake } from '../tracking/tracking-event.js';
import { REUSED_NUMBER_GAP_MS, journeyEndedAt, type TrackingProjection } from '../tracking/core/tracking-fold.js';
import { linesCents } from './lines-cents.js';
import { releaseSpareHolds } from './order-holds.js';

// Shipments: created with a confirmed locker compartment (the parcel is "assigned"), at
// which moment the pickup token and keypad code are issued and the entry joins the
// locker's code set (awaiting deposit on the device). The clear code is kept only until
// the deposit hands it to the notifier. Carrier steps (ship, out for delivery), pickup
// window extension and cancellation live here; locker-driven steps in parcel-events.ts.

/** A shipment in these states still expects the carrier's scans. */
const AWAITS_CARRIER: ReadonlySet<ShipmentState> = new Set(['created', 'shipped', 'out_for_delivery']);

export interface ShipmentServiceDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  codeBox: CodeBox;
  codeSets: CodeSetService;
  transitions: OrderTransitions;
  offlineGraceMs: number;
  maxExtensionMs: number;
  /** Carrier steps become canonical tracking events, applied at once (one timeline). */
  tracking?: { intake: TrackingIntake; apply: (trackingNumber: string) => Promise<unknown>; timeline?: ShipmentTimeline | undefined } | undefined;
}

/** The number's tracking timeline as a new shipment finds it (tracking/shipment-milestones.ts). */
export interface ShipmentTimeline {
  lockTimeline(trackingNumber: string, carrier: string, now: number): Promise<TrackingProjection>;
  caughtUp(timeline: TrackingProjection, shipmentId: string, now: number): Promise<void>;
}

export class ShipmentService {
  private readonly log: Logger;

  constructor(private readonly d: ShipmentServiceDeps) {
    this.log = d.logger.child({ component: 'shipments' });
  }

  async view(s: ShipmentRecord): Promise<ShipmentView> {
    const lines = (await this.d.store.orders.lines(s.orderId)).filter((l) => l.shipmentId === s.id);
    return shipmentView(s, lines.map((l) => l.lineId));
  }

  async get(id: string): Promise<ShipmentView> {
    const s = await this.d.store.shipments.get(id);
    if (s === undefined) throw notFound('shipment', id);
    return this.view(s);
  }

  create(orderId: string, req: CreateShipmentRequest, actor: string): Promise<ShipmentView> {
    const { store, clock, transitions } = this.d;
    // As every boundary spells it (capitals), also for a caller that did not parse the request.
    const trackingNumber = TrackingNumber.safeParse(req.trackingNumber).data ?? req.trackingNumber;
    return store.transaction(async () => {
      const now = clock.now();
      // Scans of the number may have come first: its timeline, locked before the order as
      // the applier locks them, is caught up once the shipment exists.
      const timeline = await this.timelineOf(trackingNumber, req.carrier, now);
      // Locked: two shipments created at once for one order (two instances) must not both
      // take the same line.
      const o = await transitions.lockOrder(orderId);
      if (o.state === 'placed' || o.state === 'payment_confirmed' || o.state === 'cancelled' || o.state === 'returned' || o.state === 'collected') {
        throw new BackendError('BUSINESS_RULE', `order in state ${o.state} cannot get a shipment`, { orderId, state: o.state });
      }
      const lines = await store.orders.lines(orderId);
      for (const lid of req.lineIds) {
        const line = lines.find((l) => l.lineId === lid);
        if (line === undefined) throw notFound('line', lid);
        if (line.state !== 'open' || line.shipmentId !== undefined) throw new BackendError('BUSINESS_RULE', 'line is cancelled or already in a shipment', { lineId: lid });
      }
      const id = newId('shp');
      const reservation = await this.reservationFor(orderId, id, req.delivery, now);
      if (!(await store.reservations.consume(reservation.id, id, now))) throw new BackendError('CONFLICT', 'reservation was taken concurrently', { reservationId: reservation.id });
      await store.shipments.insert({
        id,
        orderId,
        state: 'created',
        carrier: req.carrier,
        trackingNumber,
        reservationId: reservation.id,
        lockerId: reservation.lockerId,
        compartmentId: reservation.compartmentId,
        size: reservation.size,
        version: 1,
        createdAt: now,
        updatedAt: now,
      });
      await store.orders.setLines(orderId, req.lineIds, { shipmentId: id });
      await store.stateLog.append({ entity: 'shipment', entityId: id, to: 'created', event: 'create', actor, at: now });
      await this.assignPickupCode(id, reservation.lockerId, reservation.compartmentId, reservation.size);
      // The order's last unshipped lines went into this parcel: holds it did not use end here.
      await releaseSpareHolds(store, now, orderId, { actor, reason: `order fully shipped (shipment ${id})` }, this.log);
      await transitions.refreshOrder(orderId, { actor });
      this.log.info({ shipmentId: id, orderId, lockerId: reservation.lockerId }, 'shipment.created');
      if (timeline !== undefined) await this.d.tracking?.timeline?.caughtUp(timeline, id, now);
      return this.get(id);
    });
  }

  private async timelineOf(trackingNumber: string, carrier: string, now: number): Promise<TrackingProjection | undefined> {
    const t = this.d.tracking?.timeline;
    const tn = TrackingNumber.safeParse(trackingNumber);
    const code = CarrierCode.safeParse(carrier);
    // A number outside the tracking format never gets scans to catch up on.
    if (t === undefined || !tn.success || !code.success) return undefined;
    return t.lockTimeline(tn.data, code.data, now);
  }

  /**
   * Issues the pickup token + code for a shipment's compartment and adds it to the locker's
   * code set (inside the caller's transaction, which the code-set change locks the set for).
   */
  async assignPickupCode(shipmentId: string, lockerId: string, compartmentId: string, size: ShipmentRecord['size'] & string): Promise<void> {
    const { store, tokens, codeSets } = this.d;
    const pepper = await store.lockers.pepper(lockerId);
    if (pepper === undefined) throw notFound('locker', lockerId);
    const issued = await tokens.codeToken('pickup', lockerId, pepper, { compartmentId, parcelId: shipmentId, size }, (digest) => store.codeSets.liveDigestExists(lockerId, digest));
    if (!(await codeSets.add({ lockerId, tokenId: issued.tokenId, token: issued.token, codeDigest: issued.codeDigest, parcelId: shipmentId, compartmentId, size, kind: 'pickup', shipmentId, kid: issued.kid, expiresAt: issued.expiresAt }))) {
      throw new BackendError('CONFLICT', 'keypad code collided; retry', { lockerId });
    }
    const s = await store.shipments.get(shipmentId);
    if (s === undefined) throw notFound('shipment', shipmentId);
    await store.shipments.update(shipmentId, s.version, { pickupTokenId: issued.tokenId, codeDigest: issued.codeDigest }, this.d.clock.now());
    // Sealed (AES-256-GCM, bound to the shipment): the database never holds the code in clear.
    await store.shipments.setPendingCode(shipmentId, this.d.codeBox.seal(issued.code, shipmentId));
  }

  private async reservationFor(orderId: string, shipmentId: string, delivery: CreateShipmentRequest['delivery'], now: number): Promise<ReservationRecord> {
    const { store } = this.d;
    if ('reservationId' in delivery) {
      const r = await store.reservations.get(delivery.reservationId);
      if (r === undefined) throw notFound('reservation', delivery.reservationId);
      if (r.orderId !== orderId || r.status !== 'confirmed') {
        throw new BackendError('BUSINESS_RULE', 'reservation is not a confirmed reservation of this order', { reservationId: r.id, status: r.status });
      }
      return r;
    }
    if ((await store.lockers.get(delivery.lockerId)) === undefined) throw notFound('locker', delivery.lockerId);
    const r = await store.reservations.claim({ id: newId('res'), orderRef: orderId, lockerId: delivery.lockerId, size: delivery.size, status: 'confirmed', expiresAt: now, now, offlineCutoff: now - this.d.offlineGraceMs });
    if (r === undefined) throw new BackendError('NO_CAPACITY', 'no free compartment of this size at this locker', { lockerId: delivery.lockerId, size: delivery.size });
    await store.stateLog.append({ entity: 'reservation', entityId: r.id, to: 'confirmed', event: 'reserve', actor: 'shipments', reason: `shipment ${shipmentId}`, at: now });
    return { ...r, orderId };
  }

  /**
   * Carrier steps reported through the API (ship, out for delivery): a thin source of
   * canonical tracking events. The step is checked as before (a refused step is still a
   * 422), then accepted as a tracking event of the shipment's number and that number's
   * pending events are applied at once (not the rest of the inbox), so
   * the shipment moves through the tracking timeline (tracking/shipment-milestones.ts)
   * like any carrier scan. Without the tracking wiring, or for a number outside the
   * tracking format, the step moves the shipment directly.
   */
  async carrierEvent(id: string, event: 'ship' | 'out_for_delivery', who: Actor): Promise<ShipmentView> {
    const seen = await this.d.store.shipments.get(id);
    if (seen === undefined) throw notFound('shipment', id);
    const tracking = this.d.tracking;
    if (tracking === undefined || !TrackingNumber.safeParse(seen.trackingNumber).success) return this.carrierStep(id, event, who);
    const allowed = nextShipmentState(seen.state, event);
    if (!allowed.ok) throw new BackendError('INVALID_TRANSITION', allowed.reason, { shipmentId: id, state: seen.state, event });
    const now = this.d.clock.now();
    const step = { trackingNumber: seen.trackingNumber, carrier: seen.carrier, ...(who.reason === undefined ? {} : { carrierReason: who.reason }) };
    await tracking.intake.accept({ source: 'canonical', body: JSON.stringify({ shipmentId: id, event, reason: who.reason }), receivedAt: now }, [
      ...((await this.recycledNumber(seen)) ? [{ ...step, status: 'label_created' as const, carrierStatus: 'api.label', eventTime: seen.createdAt }] : []),
      { ...step, status: event === 'ship' ? ('picked_up' as const) : ('out_for_delivery' as const), carrierStatus: `api.${event}`, eventTime: now },
    ]);
    await tracking.apply(seen.trackingNumber);
    return this.get(id);
  }

  /**
   * Whether the shipment's number tracks an earlier parcel that ended its journey more than
   * the reuse gap before this shipment was recorded (a carrier's recycled number). Only a
   * label starts the new parcel's cycle (core/tracking-fold.ts): a step reported through
   * the API for it then comes with the label the shipment was recorded with, or the old
   * parcel's end would refuse it and the step would move nothing.
   */
  private async recycledNumber(s: ShipmentRecord): Promise<boolean> {
    const timeline = await this.d.store.tracking.projection(s.trackingNumber);
    const endedAt = timeline === undefined ? null : journeyEndedAt(timeline.projection);
    return endedAt !== null && s.createdAt - endedAt > REUSED_NUMBER_GAP_MS;
  }

  private carrierStep(id: string, event: 'ship' | 'out_for_delivery', who: Actor): Promise<ShipmentView> {
    const { store, transitions } = this.d;
    return store.transaction(async () => {
      const seen = await store.shipments.get(id);
      if (seen === undefined) throw notFound('shipment', id);
      await transitions.lockOrder(seen.orderId);
      const s = await store.shipments.get(id);
      if (s === undefined) throw notFound('shipment', id);
      const after = await transitions.shipment(s, event, who);
      await transitions.refreshOrder(s.orderId, who);
      return this.view(after);
    });
  }

  /** Cancels a not-yet-shipped shipment: revokes its code, frees its compartment (inside the caller's transaction, which locked the order). */
  async cancelShipment(id: string, who: Actor): Promise<void> {
    const { store, transitions } = this.d;
    const s = await store.shipments.get(id);
    if (s === undefined) throw notFound('shipment', id);
    if (s.state === 'cancelled') return;
    await transitions.shipment(s, 'cancel', who);
    await this.withdrawCompartment(s, who);
    // Polling its number would spend the carrier's request budget on a parcel nobody
    // waits for, unless another shipment still does (a split order's parcels under one number).
    const tn = TrackingNumber.safeParse(s.trackingNumber);
    if (!tn.success) return;
    const waiting = (await store.shipments.byTrackingNumber(s.trackingNumber)).some((x) => x.id !== s.id && AWAITS_CARRIER.has(x.state));
    if (!waiting) await store.pollSchedule.withdraw(tn.data);
  }

  /** A parcel that will not come: its code revoked on the locker, its compartment freed, its clear code dropped. */
  private async withdrawCompartment(s: ShipmentRecord, who: Actor): Promise<void> {
    const { store, codeSets, clock } = this.d;
    if (s.lockerId !== undefined && s.pickupTokenId !== undefined) await codeSets.revoke(s.lockerId, s.pickupTokenId, 'cancelled');
    if (s.reservationId !== undefined && (await store.reservations.release(s.reservationId, 'released', clock.now()))) {
      await store.stateLog.append({ entity: 'reservation', entityId: s.reservationId, from: 'consumed', to: 'released', event: 'release', actor: who.actor, reason: who.reason, at: clock.now() });
    }
    await store.shipments.setPendingCode(s.id, null);
  }

  /**
   * The carrier sent the parcel back before it reached the locker (a tracking milestone,
   * inside the applying transaction, which locked the order): the compartment held for it
   * is freed and its pickup code revoked on the locker, the customer is told, and what was
   * paid for its lines is refunded. A parcel already in a locker (or past it) is left to
   * the locker's own events: false.
   */
  async returnedToSender(id: string, who: Actor): Promise<boolean> {
    const { store, transitions, clock } = this.d;
    const s = await store.shipments.get(id);
    if (s === undefined) throw notFound('shipment', id);
    if (!nextShipmentState(s.state, 'return_to_sender').ok) return false;
    await transitions.shipment(s, 'return_to_sender', who);
    await this.withdrawCompartment(s, who);
    const now = clock.now();
    const order = await store.orders.get(s.orderId);
    if (order !== undefined) {
      const lines = (await store.orders.lines(s.orderId)).filter((l) => l.shipmentId === s.id && l.state === 'open');
      await queueRefund(store, now, order, linesCents(lines), `returned to sender: shipment ${s.id}`);
    }
    this.log.info({ shipmentId: id, orderId: s.orderId, lockerId: s.lockerId, from: s.state }, 'shipment.returned_to_sender');
    return true;
  }

  /**
   * extendPickup() under an Idempotency-Key: the extension and the key's record commit
   * together, so a retry after a lost answer gets the first answer back instead of moving
   * the deadline a second time. The request hashed includes the shipment: one key cannot be
   * replayed to another parcel.
   */
  extendPickupIdempotent(key: IdempotencyKeyArg, id: string, extendByMs: number, who: Actor): Promise<IdempotentResult<ShipmentView>> {
    return idempotent(this.d.store, 'pickup-extension', key, { shipmentId: id, extendByMs }, this.d.clock.now(), 200, ShipmentView, () => this.extendPickup(id, extendByMs, who));
  }

  /** Moves the pickup deadline of a parcel waiting in a locker. */
  async extendPickup(id: string, extendByMs: number, who: Actor): Promise<ShipmentView> {
    const { store, transitions, clock } = this.d;
    if (extendByMs > this.d.maxExtensionMs) throw new BackendError('BUSINESS_RULE', 'extension longer than allowed', { maxExtensionMs: this.d.maxExtensionMs });
    return store.transaction(async () => {
      const s = await store.shipments.get(id);
      if (s === undefined) throw notFound('shipment', id);
      if (s.state !== 'delivered' || s.pickupDeadline === undefined) throw new BackendError('BUSINESS_RULE', 'only a parcel waiting in a locker can be extended', { state: s.state });
      const deadline = s.pickupDeadline + extendByMs;
      const entry = s.lockerId !== undefined && s.pickupTokenId !== undefined ? await store.codeSets.entry(s.lockerId, s.pickupTokenId) : undefined;
      if (entry !== undefined && entry.expiresAt < deadline) {
        throw new BackendError('BUSINESS_RULE', 'the pickup token expires before the new deadline', { tokenExpiresAt: entry.expiresAt });
      }
      // Optimistic: a parcel collected or expired by another instance meanwhile is not extended.
      if (!(await store.shipments.update(id, s.version, { pickupDeadline: deadline }, clock.now()))) {
        throw new BackendError('CONFLICT', 'shipment changed concurrently; retry', { shipmentId: id });
      }
      await store.stateLog.append({ entity: 'shipment', entityId: id, from: s.state, to: s.state, event: 'extend_pickup', actor: who.actor, reason: who.reason, at: clock.now() });
      const order = await store.orders.get(s.orderId);
      if (order !== undefined) await transitions.notify(order, 'parcel.pickup_extended', `parcel.pickup_extended:${id}:${String(deadline)}`, { shipmentId: id, pickupDeadline: deadline });
      return this.get(id);
    });
  }
}
