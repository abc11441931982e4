import type { CodeSetService } from '../codes/code-set-service.js';
import type { TokenService } from '../keys/token-service.js';
import type { Clock } from '../shared/clock.js';
import { newId } from '../shared/ids.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { Alerts } from './alerts.js';

// A compartment whose door failed goes out of service. A parcel assigned to it but not yet
// deposited is re-slotted: another free compartment of the same size at the same locker is
// claimed, the pickup token re-issued for it with the SAME code (same digest, so the code
// the customer will get still works), and the old token revoked — one delta to the locker.
// A parcel already inside cannot be moved by software: that raises an alert.

export class CompartmentFaults {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly tokens: TokenService,
    private readonly codeSets: CodeSetService,
    private readonly alerts: Alerts,
    private readonly offlineGraceMs: number,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'compartment-faults' });
  }

  outOfService(lockerId: string, compartmentId: string, reason: string, dedupeKey: string): void {
    const { store } = this;
    store.transaction(() => {
      const c = store.lockers.compartment(lockerId, compartmentId);
      if (c === undefined || c.state === 'out_of_service') return;
      store.lockers.setCompartmentState(lockerId, compartmentId, [c.state], 'out_of_service');
      store.stateLog.append({ entity: 'compartment', entityId: `${lockerId}/${compartmentId}`, from: c.state, to: 'out_of_service', event: 'fault', actor: 'locker', reason, at: this.clock.now() });
      this.alerts.raise(lockerId, 'fault.compartment-out-of-service', dedupeKey, { compartmentId, reason });
      if (c.reservationId === undefined) return;
      const r = store.reservations.get(c.reservationId);
      const shipment = r?.shipmentId === undefined ? undefined : store.shipments.get(r.shipmentId);
      if (c.state === 'occupied') {
        this.alerts.raise(lockerId, 'fault.parcel-in-faulty-compartment', dedupeKey, { compartmentId, shipmentId: shipment?.id ?? null });
        return;
      }
      if (r !== undefined && (r.status === 'held' || r.status === 'confirmed')) {
        // A checkout hold or an order's reservation without a parcel yet: move it.
        const now = this.clock.now();
        const moved = store.reservations.relocate(r.id, compartmentId, now, now - this.offlineGraceMs);
        if (moved === undefined) this.alerts.raise(lockerId, 'fault.reslot-failed', dedupeKey, { compartmentId, reservationId: r.id });
        else store.stateLog.append({ entity: 'reservation', entityId: r.id, from: r.status, to: r.status, event: 'relocate', actor: 'compartment-faults', reason: `${compartmentId} -> ${moved}`, at: now });
        return;
      }
      if (r === undefined || shipment === undefined || !['created', 'shipped', 'out_for_delivery'].includes(shipment.state)) return;
      this.reslot(lockerId, compartmentId, r.id, shipment.id, dedupeKey);
    });
  }

  private reslot(lockerId: string, badCompartmentId: string, oldReservationId: string, shipmentId: string, dedupeKey: string): void {
    const { store, clock } = this;
    const now = clock.now();
    const s = store.shipments.get(shipmentId);
    if (s?.size === undefined) return;
    const claimed = store.reservations.claim({
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
      this.alerts.raise(lockerId, 'fault.reslot-failed', dedupeKey, { compartmentId: badCompartmentId, shipmentId });
      return;
    }
    store.reservations.consume(claimed.id, shipmentId, now);
    store.reservations.release(oldReservationId, 'released', now);
    const old = s.pickupTokenId === undefined ? undefined : store.codeSets.entry(lockerId, s.pickupTokenId);
    const patch: Parameters<Store['shipments']['update']>[2] = { reservationId: claimed.id, compartmentId: claimed.compartmentId };
    if (old !== undefined) {
      this.codeSets.revoke(lockerId, old.tokenId, 'reassigned');
      const issued = this.tokens.reissueCodeToken('pickup', lockerId, { compartmentId: claimed.compartmentId, parcelId: shipmentId, codeDigest: old.codeDigest });
      this.codeSets.add({
        lockerId,
        tokenId: issued.tokenId,
        token: issued.token,
        ...(old.codeDigest === undefined ? {} : { codeDigest: old.codeDigest }),
        parcelId: shipmentId,
        compartmentId: claimed.compartmentId,
        size: s.size,
        kind: 'pickup',
        shipmentId,
        kid: issued.kid,
        expiresAt: issued.expiresAt,
      });
      patch.pickupTokenId = issued.tokenId;
    }
    store.shipments.update(shipmentId, s.version, patch, now);
    store.stateLog.append({ entity: 'shipment', entityId: shipmentId, from: s.state, to: s.state, event: 'reslot', actor: 'compartment-faults', reason: `${badCompartmentId} -> ${claimed.compartmentId}`, at: now });
    this.log.info({ lockerId, shipmentId, from: badCompartmentId, to: claimed.compartmentId }, 'parcel.reslotted');
  }
}
