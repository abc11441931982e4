import type { CodeSetService } from '../codes/code-set-service.js';
import type { CodeBox } from '../keys/code-box.js';
import type { TokenService } from '../keys/token-service.js';
import type { Clock } from '../shared/clock.js';
import { BackendError, isBackendError, notFound } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { ShipmentRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { Actor, OrderTransitions } from './order-transitions.js';
import { queueRefund } from './refunds.js';
import type { ShipmentService } from './shipment-service.js';
import { TrackingNumber, lockerEventId, type TrackingIntake } from '../tracking/tracking-event.js';
import { linesCents } from './lines-cents.js';

// What happens to a parcel at the locker: deposit, pickup, expiry, return drop-off and
// retrieval, and a compartment fault. Each handler is idempotent against the shipment's
// state: a duplicated or late event finds the shipment already past that step and
// changes nothing (it returns 'ignored'), so replays never act twice.

export type ParcelOutcome = 'applied' | 'ignored';

export interface ParcelEventsDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  tokens: TokenService;
  codeBox: CodeBox;
  codeSets: CodeSetService;
  transitions: OrderTransitions;
  shipments: ShipmentService;
  pickupWindowMs: number;
  offlineGraceMs: number;
  /** One timeline: deposit, pickup, expiry and the courier's retrieval become tracking events of the shipment's number. */
  tracking?: TrackingIntake | undefined;
}

export class ParcelEvents {
  private readonly log: Logger;

  constructor(private readonly d: ParcelEventsDeps) {
    this.log = d.logger.child({ component: 'parcel-events' });
  }

  private shipment(id: string): Promise<ShipmentRecord | undefined> {
    return this.d.store.shipments.get(id);
  }

  /**
   * The shipment, if `applies` to it, read again after its order was locked for this
   * transaction (OrderTransitions.lockOrder). A duplicate or late event is told apart by
   * the first, unlocked read and takes no lock: shipments only move forward, so one that
   * is past the step already stays past it.
   */
  private async lockedShipment(id: string, applies: (s: ShipmentRecord) => boolean): Promise<ShipmentRecord | undefined> {
    const seen = await this.shipment(id);
    if (seen === undefined || !applies(seen)) return undefined;
    await this.d.transitions.lockOrder(seen.orderId);
    const s = await this.shipment(id);
    return s !== undefined && applies(s) ? s : undefined;
  }

  /**
   * Adds a locker step to the shipment's tracking timeline, in the caller's transaction (so
   * the event exists if and only if the step happened). The customer notice for it is the
   * shipment transition's own (it carries the locker and the code); the tracking side
   * notifies nothing more for these (tracking/shipment-milestones.ts).
   */
  private async timeline(
    s: ShipmentRecord,
    status: 'available_for_pickup' | 'collected' | 'returned_to_sender',
    step: string,
    at: number,
    lockerId: string,
    compartmentId: string | undefined,
    reason?: string,
  ): Promise<void> {
    const tracking = this.d.tracking;
    if (tracking === undefined) return;
    if (!TrackingNumber.safeParse(s.trackingNumber).success) {
      // Older shipments may carry numbers outside the tracking format: the locker step still counts.
      this.log.warn({ shipmentId: s.id }, 'tracking.locker_event_skipped');
      return;
    }
    const event = { trackingNumber: s.trackingNumber, carrier: s.carrier, carrierEventId: lockerEventId(step, s.id), status, carrierStatus: `locker.${step}`, eventTime: at, lockerId, ...(compartmentId === undefined ? {} : { compartmentId }), ...(reason === undefined ? {} : { carrierReason: reason }) };
    try {
      await tracking.accept({ source: 'locker', body: JSON.stringify({ shipmentId: s.id, step, lockerId, compartmentId, at }), receivedAt: this.d.clock.now() }, [event]);
    } catch (err) {
      // An event the tracking format refuses (its own savepoint was rolled back) must not
      // undo the parcel step itself: the door opened and the parcel is in.
      if (!isBackendError(err, 'INVALID_INPUT')) throw err;
      this.log.warn({ shipmentId: s.id, step, reason: err.message }, 'tracking.locker_event_refused');
    }
  }

  /**
   * The courier put the parcel in at `at` (maybe another compartment than assigned):
   * customer gets the code. The timeline says `at`, when the door closed on the parcel (a
   * record the locker wrote late still says when: locker-sync/event-time.ts); the pickup
   * window runs from when the customer is told, which is now: a deposit that reaches us
   * late (an uplink or a full card down for days) must not reach the customer with its
   * days to collect already spent, or past its deadline and expired by the next sweep. The
   * token's expiry caps it; a deposit heard of only after that is expired straight away.
   */
  deposited(shipmentId: string, lockerId: string, compartmentId: string | undefined, at: number, who: Actor): Promise<ParcelOutcome> {
    const { store, transitions } = this.d;
    return store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, (x) => x.lockerId === lockerId && (x.state === 'created' || x.state === 'shipped' || x.state === 'out_for_delivery'));
      if (s === undefined) return 'ignored';
      const slot = compartmentId ?? s.compartmentId;
      const assigned = s.compartmentId;
      if (slot !== undefined && assigned !== undefined && slot !== assigned) {
        // Re-slotted by the courier: the assigned compartment is free again, and the
        // reservation that named it ends with it. Left live, it would point at an empty
        // compartment, and the database (one live reservation per compartment) would then
        // refuse every new claim of it until this parcel is collected. A reservation that
        // ended already may have let the compartment go to another one: that one keeps it.
        if (s.reservationId === undefined || !(await store.reservations.release(s.reservationId, 'released', this.d.clock.now()))) {
          await store.lockers.freeReservedFor(lockerId, assigned, s.reservationId ?? null);
        }
      }
      // The parcel's compartment keeps naming its reservation (released or not): that is how a
      // fault reported on it later finds the shipment inside.
      if (slot !== undefined) await store.lockers.setCompartmentState(lockerId, slot, ['free', 'reserved', 'held'], 'occupied', s.reservationId ?? null);
      // The sealed code moves into the notification (still sealed; the dispatcher opens it
      // only to hand it to the channels) and is wiped from that row once sent. From then
      // on only its digest exists.
      const code = await store.shipments.takePendingCode(shipmentId);
      // The QR code the customer can scan instead is the pickup token itself.
      const entry = s.pickupTokenId === undefined ? undefined : await store.codeSets.entry(lockerId, s.pickupTokenId);
      // Never past the token's own expiry: the locker refuses the code from then on, and the
      // notice must not promise the customer days the code does not have.
      const now = this.d.clock.now();
      const deadline = Math.min(Math.max(at, now) + this.d.pickupWindowMs, entry?.expiresAt ?? Number.POSITIVE_INFINITY);
      const patch: Partial<ShipmentRecord> = { pickupDeadline: deadline };
      if (slot !== undefined) patch.compartmentId = slot;
      if (deadline <= now) {
        // The deposit reached us after the code expired (its upload waited on an uplink or a
        // full card): the locker refuses that code and expires the parcel itself. A "ready
        // for pickup" with a dead code and a past deadline would be wrong, and the sweep would
        // expire it seconds later anyway: expired now, the customer told that instead.
        const delivered = await transitions.shipment(s, 'deposit', who, patch, {}, { quiet: true });
        await this.timeline(s, 'available_for_pickup', 'deposit', at, lockerId, slot);
        await this.expireLocked(delivered, who, { lockerId, reason: 'code-expired-before-deposit-reported' }, Math.max(deadline, at));
        return 'applied';
      }
      const extra: Record<string, unknown> = { lockerId, pickupDeadline: deadline };
      if (code !== undefined) extra['code'] = code;
      if (entry !== undefined) extra['token'] = entry.token;
      await transitions.shipment(s, 'deposit', who, patch, extra);
      await transitions.refreshOrder(s.orderId, who);
      await this.timeline(s, 'available_for_pickup', 'deposit', at, lockerId, slot);
      return 'applied';
    });
  }

  /**
   * The customer took the parcel out at `at` (when the locker says the door opened; the
   * upload may come hours later). Also after the backend expired it: a pickup the locker recorded while its
   * uplink was down, or before the revoked code reached it, means the parcel is gone. No
   * courier goes to an empty compartment and nothing is refunded.
   */
  collected(shipmentId: string, lockerId: string, who: Actor, at = this.d.clock.now()): Promise<ParcelOutcome> {
    const { store, transitions } = this.d;
    return store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, (x) => (x.state === 'delivered' || x.state === 'expired') && x.lockerId === lockerId);
      if (s === undefined) return 'ignored';
      if (s.compartmentId !== undefined) await store.lockers.setCompartmentState(lockerId, s.compartmentId, ['occupied'], 'free', null);
      // The parcel is gone, so its reservation ends too: a live one would keep the database
      // from letting anyone claim the compartment again (one live reservation per compartment).
      if (s.reservationId !== undefined) await store.reservations.release(s.reservationId, 'released', this.d.clock.now());
      await transitions.shipment(s, 'collect', who);
      await transitions.refreshOrder(s.orderId, who);
      await this.timeline(s, 'collected', 'collect', at, lockerId, s.compartmentId);
      return 'applied';
    });
  }

  /**
   * Pickup window lapsed: revoke the code, flag the parcel for return (courier retrieval).
   * `pastDeadlineAt`: the sweeper's check, made again under the order's lock, that the
   * deadline (which a customer's extension may have moved since the sweep listed the
   * parcel) has passed by then; the locker's own expiry event has none.
   */
  expire(shipmentId: string, who: Actor, pastDeadlineAt?: number): Promise<ParcelOutcome> {
    const { store } = this.d;
    return store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, (x) => x.state === 'delivered' && (pastDeadlineAt === undefined || (x.pickupDeadline !== undefined && x.pickupDeadline <= pastDeadlineAt)));
      if (s === undefined) return 'ignored';
      await this.expireLocked(s, who, {}, Math.min(s.pickupDeadline ?? this.d.clock.now(), this.d.clock.now()));
      return 'applied';
    });
  }

  /** Expires `s` (delivered, its order locked): code revoked, flagged for return; on the timeline at `at`. */
  private async expireLocked(s: ShipmentRecord, who: Actor, extra: Record<string, unknown>, at: number): Promise<void> {
    const { transitions, codeSets } = this.d;
    if (s.lockerId !== undefined && s.pickupTokenId !== undefined) await codeSets.revoke(s.lockerId, s.pickupTokenId, 'expired');
    await transitions.shipment(s, 'expire', who, {}, extra);
    await transitions.refreshOrder(s.orderId, who);
    // The customer's code is dead from the deadline on and the parcel goes back: GET /track
    // must stop saying it waits at the locker (its ETag changes with it).
    if (s.lockerId !== undefined) await this.timeline(s, 'returned_to_sender', 'expire', at, s.lockerId, s.compartmentId, 'not collected by the pickup deadline');
    this.log.info({ shipmentId: s.id, lockerId: s.lockerId }, 'parcel.flagged_for_return');
  }

  /**
   * Sweeper: every parcel past its pickup deadline. Several instances may sweep the same
   * parcel: the second waits for the first's order lock and then finds it expired. Should
   * it still lose a version check, its expiry is rolled back whole (revocation included)
   * and it moves on: the other instance did the work.
   */
  async expireDue(limit = 200): Promise<number> {
    let n = 0;
    const now = this.d.clock.now();
    for (const s of await this.d.store.shipments.deliveredPastDeadline(now, limit)) {
      try {
        if ((await this.expire(s.id, { actor: 'sweeper', reason: 'pickup window lapsed' }, now)) === 'applied') n++;
      } catch (err) {
        if (!isBackendError(err, 'CONFLICT')) throw err;
        this.log.info({ shipmentId: s.id }, 'parcel.expiry_taken_elsewhere');
      }
    }
    return n;
  }

  /** Customer wants to send a collected parcel back: claim a compartment, issue a drop-off code. */
  requestReturn(shipmentId: string, lockerId: string | undefined, who: Actor): Promise<void> {
    const { store, clock, tokens, codeSets, transitions } = this.d;
    return store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, () => true);
      if (s === undefined) throw notFound('shipment', shipmentId);
      if (s.state !== 'collected') throw new BackendError('INVALID_TRANSITION', `shipment in state ${s.state} cannot be returned`, { shipmentId });
      const target = lockerId ?? s.lockerId;
      if (target === undefined || s.size === undefined) throw new BackendError('BUSINESS_RULE', 'a locker is needed for the return', { shipmentId });
      const pepper = await store.lockers.pepper(target);
      if (pepper === undefined) throw notFound('locker', target);
      const now = clock.now();
      const r = await store.reservations.claim({ id: newId('res'), orderRef: s.orderId, lockerId: target, size: s.size, status: 'confirmed', expiresAt: now, now, offlineCutoff: now - this.d.offlineGraceMs });
      if (r === undefined) throw new BackendError('NO_CAPACITY', 'no free compartment for the return at this locker', { lockerId: target });
      await store.reservations.consume(r.id, shipmentId, now);
      const issued = await tokens.codeToken('return-dropoff', target, pepper, { compartmentId: r.compartmentId, parcelId: shipmentId, size: s.size }, (dg) => store.codeSets.liveDigestExists(target, dg));
      if (!(await codeSets.add({ lockerId: target, tokenId: issued.tokenId, token: issued.token, codeDigest: issued.codeDigest, parcelId: shipmentId, compartmentId: r.compartmentId, size: s.size, kind: 'return-dropoff', shipmentId, kid: issued.kid, expiresAt: issued.expiresAt }))) {
        throw new BackendError('CONFLICT', 'keypad code collided; retry', { lockerId: target });
      }
      // The drop-off code goes straight to the notifier, sealed like a pickup code.
      const sealed = this.d.codeBox.seal(issued.code, shipmentId);
      await transitions.shipment(s, 'request_return', who, { reservationId: r.id, lockerId: target, compartmentId: r.compartmentId, returnTokenId: issued.tokenId }, { lockerId: target, code: sealed });
      await transitions.refreshOrder(s.orderId, who);
    });
  }

  returnDropped(shipmentId: string, lockerId: string, who: Actor): Promise<ParcelOutcome> {
    const { store, transitions, codeSets } = this.d;
    return store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, (x) => x.state === 'return_requested' && x.lockerId === lockerId);
      if (s === undefined) return 'ignored';
      if (s.compartmentId !== undefined) await store.lockers.setCompartmentState(lockerId, s.compartmentId, ['reserved'], 'occupied');
      if (s.returnTokenId !== undefined) await codeSets.revoke(lockerId, s.returnTokenId, 'cancelled');
      await transitions.shipment(s, 'drop_return', who);
      await transitions.refreshOrder(s.orderId, who);
      return 'applied';
    });
  }

  /**
   * A drop-off the locker recorded with the return's own code, uploaded after the return-expiry
   * sweep had given up on it (the locker was offline past the grace): the shipment is back in
   * `collected` and its door was freed, but the parcel is in that door. The caller has had
   * CompartmentFaults.parcelInside take the door back; the return now goes on as if on time
   * (a courier takes the parcel out, the customer is refunded then).
   */
  lateReturnDropped(shipmentId: string, lockerId: string, evidence: { tokenId: string; compartmentId: string }, who: Actor): Promise<ParcelOutcome> {
    const { transitions } = this.d;
    return this.d.store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, (x) => isLateReturn(x, lockerId, evidence));
      if (s === undefined) return 'ignored';
      await transitions.shipment(s, 'drop_return', who);
      await transitions.refreshOrder(s.orderId, who);
      this.log.warn({ shipmentId, lockerId, compartmentId: evidence.compartmentId }, 'return.dropped_late');
      return 'applied';
    });
  }

  /**
   * Where a parcel the backend no longer expects (cancelled, or sent back by the carrier) sits
   * in a locker: the door CompartmentFaults.parcelInside marked occupied, naming the
   * shipment's ended reservation. Undefined when none is (or a courier took it out already).
   */
  private async strayInside(s: ShipmentRecord): Promise<{ lockerId: string; compartmentId: string } | undefined> {
    if ((s.state !== 'cancelled' && s.state !== 'returned_to_sender') || s.lockerId === undefined || s.compartmentId === undefined || s.reservationId === undefined) return undefined;
    const c = await this.d.store.lockers.compartment(s.lockerId, s.compartmentId);
    return c?.state === 'occupied' && c.reservationId === s.reservationId ? { lockerId: s.lockerId, compartmentId: s.compartmentId } : undefined;
  }

  /** A courier took a stray parcel out: its door is free again; its shipment ended already (and was refunded then). */
  private async strayRetrieved(shipmentId: string, lockerId: string, who: Actor): Promise<ParcelOutcome> {
    const { store, clock } = this.d;
    const seen = await this.shipment(shipmentId);
    // Told apart before any lock, as lockedShipment does: a replayed retrieval takes none.
    if (seen === undefined || seen.lockerId !== lockerId || (await this.strayInside(seen)) === undefined) return 'ignored';
    await this.d.transitions.lockOrder(seen.orderId);
    const s = await this.shipment(shipmentId);
    const at = s === undefined ? undefined : await this.strayInside(s);
    if (s === undefined || at === undefined || at.lockerId !== lockerId) return 'ignored';
    if (!(await store.lockers.setCompartmentState(lockerId, at.compartmentId, ['occupied'], 'free', null))) return 'ignored';
    await store.stateLog.append({ entity: 'compartment', entityId: `${lockerId}/${at.compartmentId}`, from: 'occupied', to: 'free', event: 'retrieve', actor: who.actor, reason: `stray parcel of shipment ${s.id} (${s.state}) taken out`, at: clock.now() });
    this.log.info({ shipmentId, lockerId, compartmentId: at.compartmentId }, 'parcel.stray_retrieved');
    return 'applied';
  }

  /** A courier took the parcel out at `at` (expired parcel or dropped-off return): money goes back. */
  retrieved(shipmentId: string, lockerId: string, who: Actor, at = this.d.clock.now()): Promise<ParcelOutcome> {
    const { store, transitions, clock } = this.d;
    return store.transaction(async () => {
      const s = await this.lockedShipment(shipmentId, (x) => (x.state === 'expired' || x.state === 'return_dropped') && x.lockerId === lockerId);
      if (s === undefined) return this.strayRetrieved(shipmentId, lockerId, who);
      if (s.compartmentId !== undefined) await store.lockers.setCompartmentState(lockerId, s.compartmentId, ['occupied'], 'free', null);
      if (s.reservationId !== undefined) await store.reservations.release(s.reservationId, 'released', clock.now());
      await transitions.shipment(s, 'retrieve', who);
      const order = await transitions.refreshOrder(s.orderId, who);
      // An expired parcel's way back, on its timeline. A customer's own return follows a
      // collection, the end of that timeline: nothing is added after it.
      if (s.state === 'expired') await this.timeline(s, 'returned_to_sender', 'retrieve', at, lockerId, s.compartmentId, 'taken out of the locker by a courier');
      const lines = (await store.orders.lines(s.orderId)).filter((l) => l.shipmentId === s.id && l.state === 'open');
      await queueRefund(store, clock.now(), order, linesCents(lines), `returned: shipment ${s.id}`);
      return 'applied';
    });
  }

  /** A token for the courier app to open the compartment holding an expired, returned or stray parcel. */
  async retrievalToken(shipmentId: string, courierId: string): Promise<{ token: string; lockerId: string; compartmentId: string; expiresAt: number }> {
    const s = await this.shipment(shipmentId);
    if (s === undefined) throw notFound('shipment', shipmentId);
    // A parcel deposited after its shipment ended is taken out the same way.
    const stray = await this.strayInside(s);
    if (stray !== undefined) {
      const t = this.d.tokens.returnRetrievalToken(stray.lockerId, stray.compartmentId, s.id, courierId);
      return { token: t.token, lockerId: stray.lockerId, compartmentId: stray.compartmentId, expiresAt: t.expiresAt };
    }
    if ((s.state !== 'expired' && s.state !== 'return_dropped') || s.lockerId === undefined || s.compartmentId === undefined) {
      throw new BackendError('BUSINESS_RULE', 'nothing to retrieve for this shipment', { state: s.state });
    }
    const t = this.d.tokens.returnRetrievalToken(s.lockerId, s.compartmentId, s.id, courierId);
    return { token: t.token, lockerId: s.lockerId, compartmentId: s.compartmentId, expiresAt: t.expiresAt };
  }
}

/** A collected shipment whose last return code (`tokenId`, for that door of that locker) lapsed: the drop-off is its own. */
export function isLateReturn(s: ShipmentRecord, lockerId: string, evidence: { tokenId: string; compartmentId: string }): boolean {
  return s.state === 'collected' && s.returnTokenId === evidence.tokenId && s.lockerId === lockerId && s.compartmentId === evidence.compartmentId;
}
