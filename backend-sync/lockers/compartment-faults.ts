import type { Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { Alerts } from './alerts.js';
import { compartmentReturn, type MoveParcel } from './compartment-return.js';
import { BackendError } from '../shared/errors.js';

// A compartment whose door failed goes out of service. A parcel assigned to it but not yet
// deposited keeps its pickup token and code: the locker, not the backend, decides where the
// parcel goes (it re-slots the courier to a free door, and opens the parcel's compartment by
// where it was deposited, not by the token's cmp), and reports it with courier.deposited.
// Here only the backend's capacity bookkeeping moves: another free compartment of the same
// size is reserved for the parcel so it is not sold meanwhile. Re-issuing the token here
// raced the locker's own re-slot and stranded the parcel under a revoked token
// (docs/decisions/0024). A parcel already inside cannot be moved by software: an alert.

export class CompartmentFaults {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly alerts: Alerts,
    private readonly offlineGraceMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'compartment-faults' });
  }

  async outOfService(lockerId: string, compartmentId: string, reason: string, dedupeKey: string): Promise<void> {
    const { store } = this;
    await store.transaction(async () => {
      const seen = await store.lockers.compartment(lockerId, compartmentId);
      if (seen === undefined || seen.state === 'out_of_service') return;
      // The parcel's order first, as every parcel flow locks it: a carrier step or a
      // cancellation on another instance cannot slip between the re-slot's read and write.
      const promised = seen.reservationId === undefined ? undefined : await store.reservations.get(seen.reservationId);
      const parcelOrder = promised?.shipmentId === undefined ? undefined : (await store.shipments.get(promised.shipmentId))?.orderId;
      if (parcelOrder !== undefined) await store.orders.lockRow(parcelOrder);
      const c = await store.lockers.compartment(lockerId, compartmentId);
      if (c === undefined || c.state === 'out_of_service') return;
      // Conditional on the state just read: a concurrent change (another instance) wins and this one stops.
      if (!(await store.lockers.setCompartmentState(lockerId, compartmentId, [c.state], 'out_of_service'))) return;
      await store.stateLog.append({ entity: 'compartment', entityId: `${lockerId}/${compartmentId}`, from: c.state, to: 'out_of_service', event: 'fault', actor: 'locker', reason, at: this.clock.now() });
      await this.alerts.raise(lockerId, 'fault.compartment-out-of-service', dedupeKey, { compartmentId, reason });
      if (c.reservationId === undefined) return;
      const r = await store.reservations.get(c.reservationId);
      const shipment = r?.shipmentId === undefined ? undefined : await store.shipments.get(r.shipmentId);
      if (c.state === 'occupied') {
        await this.alerts.raise(lockerId, 'fault.parcel-in-faulty-compartment', dedupeKey, { compartmentId, shipmentId: shipment?.id ?? null });
        return;
      }
      if (r !== undefined && (r.status === 'held' || r.status === 'confirmed')) {
        // A checkout hold or an order's reservation without a parcel yet: move it.
        const now = this.clock.now();
        const moved = await store.reservations.relocate(r.id, compartmentId, now, now - this.offlineGraceMs);
        if (moved === undefined) await this.alerts.raise(lockerId, 'fault.reslot-failed', dedupeKey, { compartmentId, reservationId: r.id });
        else await store.stateLog.append({ entity: 'reservation', entityId: r.id, from: r.status, to: r.status, event: 'relocate', actor: 'compartment-faults', reason: `${compartmentId} -> ${moved}`, at: now });
        return;
      }
      if (r === undefined || shipment === undefined || !['created', 'shipped', 'out_for_delivery'].includes(shipment.state)) return;
      await this.reslot(lockerId, compartmentId, r.id, shipment.id, dedupeKey);
    });
  }

  /**
   * A parcel the backend no longer expects (its shipment cancelled, or sent back by the
   * carrier, before the locker heard) was deposited into this door. The door is physically
   * full, so it is marked occupied, naming the parcel's own (ended) reservation: that is how
   * the courier-retrieval path (ParcelEvents.retrievalToken / retrieved) finds it, and why
   * no claim hands it out again. A hold or reservation another customer had on the door
   * moves to a free one of the same size, or is released with a logged reason when none is
   * left. Without this the door read free and was sold while the parcel sat in it.
   */
  async parcelInside(lockerId: string, compartmentId: string, shipmentId: string, dedupeKey: string): Promise<'applied' | 'ignored'> {
    const { store, clock } = this;
    return store.transaction(async () => {
      const stray = await store.shipments.get(shipmentId);
      const seen = await store.lockers.compartment(lockerId, compartmentId);
      if (stray?.reservationId === undefined || seen === undefined) return 'ignored';
      // Orders first (the stray parcel's and the displaced reservation's parcel's), in id
      // order, then the reservation: the order every parcel and hold flow locks them in.
      const other = seen.reservationId === undefined || seen.reservationId === stray.reservationId ? undefined : await store.reservations.get(seen.reservationId);
      const otherOrder = other?.shipmentId === undefined ? undefined : (await store.shipments.get(other.shipmentId))?.orderId;
      for (const orderId of [...new Set([stray.orderId, otherOrder].filter((o): o is string => o !== undefined))].sort()) await store.orders.lockRow(orderId);
      const c = await store.lockers.compartment(lockerId, compartmentId);
      const s = await store.shipments.get(shipmentId);
      if (c === undefined || s?.reservationId === undefined) return 'ignored';
      if (c.reservationId === s.reservationId && (c.state === 'occupied' || c.state === 'out_of_service')) return 'ignored';
      if (c.state === 'occupied' || c.state === 'out_of_service') {
        // The backend places another parcel here, or the door is out of service: a person looks.
        await this.alerts.raise(lockerId, 'fault.compartment-state-mismatch', dedupeKey, { compartmentId, backend: c.state, locker: 'occupied', shipmentId: s.id, lockerParcelId: s.id, inService: c.state !== 'out_of_service' });
        return 'applied';
      }
      const now = clock.now();
      if (c.reservationId !== undefined && c.reservationId !== s.reservationId) await this.moveAway(lockerId, compartmentId, c.reservationId, dedupeKey, now);
      // Conditional on the state read under the locks (a reslot may just have freed it).
      if (!(await store.lockers.setCompartmentState(lockerId, compartmentId, ['free', 'held', 'reserved'], 'occupied', s.reservationId))) {
        throw new BackendError('CONFLICT', 'compartment changed while a stray parcel was recorded in it; retry', { lockerId, compartmentId });
      }
      // The shipment points at where its parcel is, so a courier can be sent to take it out.
      if (!(await store.shipments.update(s.id, s.version, { lockerId, compartmentId }, now))) throw new BackendError('CONFLICT', 'shipment changed concurrently; retry', { shipmentId: s.id });
      await store.stateLog.append({ entity: 'compartment', entityId: `${lockerId}/${compartmentId}`, from: c.state, to: 'occupied', event: 'parcel_inside', actor: 'locker', reason: `shipment ${s.id} (${s.state}) deposited`, at: now });
      this.log.warn({ lockerId, compartmentId, shipmentId: s.id, shipmentState: s.state, from: c.state }, 'compartment.parcel_inside');
      return 'applied';
    });
  }

  /** Another reservation's door is full: its claim moves to a free door of that size, or ends with a reason. */
  private async moveAway(lockerId: string, compartmentId: string, reservationId: string, dedupeKey: string, now: number): Promise<void> {
    const { store } = this;
    const r = await store.reservations.lock(reservationId);
    if (r === undefined) return;
    if (r.status === 'held' || r.status === 'confirmed') {
      const moved = await store.reservations.relocate(r.id, compartmentId, now, now - this.offlineGraceMs);
      if (moved !== undefined) {
        await store.stateLog.append({ entity: 'reservation', entityId: r.id, from: r.status, to: r.status, event: 'relocate', actor: 'compartment-faults', reason: `${compartmentId} -> ${moved} (parcel inside)`, at: now });
        return;
      }
    } else if (r.status === 'consumed' && r.shipmentId !== undefined) {
      const shipment = await store.shipments.get(r.shipmentId);
      if (shipment !== undefined && ['created', 'shipped', 'out_for_delivery'].includes(shipment.state) && (await this.reslot(lockerId, compartmentId, r.id, shipment.id, dedupeKey))) return;
    } else {
      return;
    }
    if (await store.reservations.release(r.id, 'released', now)) {
      const reason = `no free ${r.size} compartment: ${lockerId}/${compartmentId} holds a parcel no longer expected`;
      await store.stateLog.append({ entity: 'reservation', entityId: r.id, from: r.status, to: 'released', event: 'release', actor: 'compartment-faults', reason, at: now });
      this.log.warn({ lockerId, compartmentId, reservationId: r.id, status: r.status, reason }, 'reservation.released_parcel_inside');
      await this.alerts.raise(lockerId, 'fault.reslot-failed', dedupeKey, { compartmentId, reservationId: r.id });
    }
  }

  /**
   * The locker put the compartment back into service (`lockerSays`: its status after the
   * change; `lockerParcelId`: the parcel it counts inside). The backend's bookkeeping
   * follows, to the state its own records give (compartment-return.ts): without this a
   * repaired compartment was never sold again.
   */
  async inService(lockerId: string, compartmentId: string, lockerSays: string, lockerParcelId: string | undefined, dedupeKey: string): Promise<'applied' | 'ignored'> {
    const { store, clock } = this;
    return store.transaction(async () => {
      const seen = await store.lockers.compartment(lockerId, compartmentId);
      if (seen?.state !== 'out_of_service') return 'ignored';
      // Locks orders, then the reservation, then the compartment, as the parcel and hold
      // flows do, so a collection, cancellation or hold release committing on another
      // instance is either seen here or finds the compartment already restored. (The upload
      // around this already holds the locker's code set, which an expiry takes after its
      // order: PostgreSQL may still break that cycle, and the upload then runs again.)
      const first = seen.reservationId === undefined ? undefined : await store.reservations.get(seen.reservationId);
      const firstShipment = first?.shipmentId === undefined ? undefined : await store.shipments.get(first.shipmentId);
      const lockerFirst = lockerParcelId === undefined || lockerParcelId === firstShipment?.id ? undefined : await store.shipments.get(lockerParcelId);
      for (const orderId of [...new Set([firstShipment?.orderId, lockerFirst?.orderId].filter((o): o is string => o !== undefined))].sort()) await store.orders.lockRow(orderId);
      const reservation = seen.reservationId === undefined ? undefined : await store.reservations.lock(seen.reservationId);
      const c = await store.lockers.compartment(lockerId, compartmentId);
      if (c?.state !== 'out_of_service') return 'ignored';
      const shipment = reservation?.shipmentId === undefined ? undefined : await store.shipments.get(reservation.shipmentId);
      const lockerParcel = lockerParcelId === undefined ? undefined : lockerParcelId === shipment?.id ? shipment : await store.shipments.get(lockerParcelId);
      const now = clock.now();
      const decision = compartmentReturn({ lockerId, compartmentId, now, reservation, shipment, lockerSays, lockerParcelId, lockerParcel }, c.reservationId ?? null);
      if (decision.mismatch !== undefined) {
        await this.alerts.raise(lockerId, 'fault.compartment-state-mismatch', dedupeKey, { compartmentId, ...decision.mismatch, inService: decision.kind === 'restore' });
      }
      if (decision.kind === 'keep-out') return 'applied';
      if (decision.moveParcel !== undefined && !(await this.moveParcelHere(lockerId, compartmentId, decision.moveParcel, now))) {
        // Its reservation is no longer live: nothing to hold the door for. Someone looks.
        await this.alerts.raise(lockerId, 'fault.compartment-state-mismatch', dedupeKey, { compartmentId, backend: 'free', locker: lockerSays, shipmentId: decision.moveParcel.shipmentId, lockerParcelId: lockerParcelId ?? null, inService: false });
        return 'applied';
      }
      if (!(await store.lockers.restoreCompartment(lockerId, compartmentId, decision.state, decision.reservationId, decision.holdExpiresAt))) {
        if (decision.moveParcel === undefined) return 'ignored';
        // The parcel was moved for a door that changed meanwhile: undo it all, run again.
        throw new BackendError('CONFLICT', 'compartment changed while it came back; retry', { lockerId, compartmentId });
      }
      await store.stateLog.append({
        entity: 'compartment',
        entityId: `${lockerId}/${compartmentId}`,
        from: 'out_of_service',
        to: decision.state,
        event: 'in_service',
        actor: 'locker',
        reason: `locker says ${lockerSays}`,
        at: now,
      });
      this.log.info({ lockerId, compartmentId, state: decision.state }, 'compartment.in_service');
      return 'applied';
    });
  }

  /** The parcel is in this door already (its deposit record is in flight): its reservation and shipment follow, its other door is freed. */
  private async moveParcelHere(lockerId: string, compartmentId: string, m: MoveParcel, now: number): Promise<boolean> {
    const { store } = this;
    const s = await store.shipments.get(m.shipmentId);
    // Under the parcel's order lock: a reservation that is not live now will not become so.
    if (s === undefined || !(await store.reservations.repoint(m.reservationId, compartmentId, now))) return false;
    if (!(await store.shipments.update(s.id, s.version, { compartmentId }, now))) throw new BackendError('CONFLICT', 'shipment changed concurrently; retry', { shipmentId: s.id });
    await store.stateLog.append({ entity: 'shipment', entityId: s.id, from: s.state, to: s.state, event: 'reslot', actor: 'locker', reason: `${m.from ?? '-'} -> ${compartmentId} (in service with the parcel inside)`, at: now });
    return true;
  }

  /** Moves a not-yet-deposited parcel's reservation to another free door; false when none was free. */
  private async reslot(lockerId: string, badCompartmentId: string, oldReservationId: string, shipmentId: string, dedupeKey: string): Promise<boolean> {
    const { store, clock } = this;
    const now = clock.now();
    const s = await store.shipments.get(shipmentId);
    if (s?.size === undefined) return false;
    const claimed = await store.reservations.claim({
      id: newId('res'),
      orderRef: s.orderId,
      lockerId,
      size: s.size,
      status: 'confirmed',
      expiresAt: now,
      now,
      offlineCutoff: now - this.offlineGraceMs,
      excludeCompartmentId: badCompartmentId,
    });
    if (claimed === undefined) {
      // Nothing of that size is free here: the locker may still find a larger one.
      await this.alerts.raise(lockerId, 'fault.reslot-failed', dedupeKey, { compartmentId: badCompartmentId, shipmentId });
      return false;
    }
    await store.reservations.consume(claimed.id, shipmentId, now);
    await store.reservations.release(oldReservationId, 'released', now);
    // The token (its cmp still names the faulty compartment) and the code stay as they are.
    if (!(await store.shipments.update(shipmentId, s.version, { reservationId: claimed.id, compartmentId: claimed.compartmentId }, now))) {
      throw new BackendError('CONFLICT', 'shipment changed concurrently; retry', { shipmentId });
    }
    await store.stateLog.append({ entity: 'shipment', entityId: shipmentId, from: s.state, to: s.state, event: 'reslot', actor: 'compartment-faults', reason: `${badCompartmentId} -> ${claimed.compartmentId}`, at: now });
    this.log.info({ lockerId, shipmentId, from: badCompartmentId, to: claimed.compartmentId }, 'parcel.reslotted');
    return true;
  }
}
