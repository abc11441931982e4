import type { Alerts, AlertKind } from '../lockers/alerts.js';
import type { CompartmentFaults } from '../lockers/compartment-faults.js';
import { isLateReturn, type ParcelEvents } from '../orders/parcel-events.js';
import { parseAuditEvent, type AuditEvent } from '../shared/contract.js';
import type { Logger } from '../shared/logger.js';
import type { AuditRecordRow } from '../store/records.js';
import type { Store } from '../store/store.js';
import { eventTime } from './event-time.js';

// The ONE mapping from the device's audit events (sync/contract/audit-events) to backend
// effects. Every record's data is parsed through its type's contract schema first: a type
// the contract does not know, or data its schema refuses, maps to nothing ('unknown' /
// 'invalid'; audit-ingest.ts has already kept it for review). Events only drive state
// transitions (which feed the outbox); nothing here notifies anyone directly. Known types
// the backend does not act on are 'unmapped'. A door event is dated by when it happened
// (`occurredAt` on a record written late, within bounds: event-time.ts), not by its write.

export interface EventMapDeps {
  store: Store;
  parcels: ParcelEvents;
  faults: CompartmentFaults;
  alerts: Alerts;
}

export type MapOutcome = 'applied' | 'ignored' | 'unmapped' | 'invalid' | 'unknown';

/** Shipments whose parcel no customer will collect: one deposited anyway needs a person. */
const NOT_LIVE: ReadonlySet<string> = new Set(['cancelled', 'returned_to_sender']);

const faultTypes: ReadonlySet<AuditEvent['type']> = new Set(['door.jammed', 'door.relay-fault', 'door.sensor-unknown', 'door.open-unknown', 'door.left-open']);

/** The shipment a record is about: its parcel id, else the token's code entry. */
async function shipmentOf(store: Store, lockerId: string, d: { parcelId?: string | undefined; tokenId?: string | undefined }): Promise<string | undefined> {
  if (d.parcelId !== undefined && (await store.shipments.get(d.parcelId)) !== undefined) return d.parcelId;
  if (d.tokenId !== undefined) return (await store.codeSets.entry(lockerId, d.tokenId))?.shipmentId;
  return undefined;
}

export async function mapAuditEvent(r: AuditRecordRow, deps: EventMapDeps, log: Logger): Promise<MapOutcome> {
  const parsed = parseAuditEvent(r.type, r.dataJson);
  if (!parsed.ok) return parsed.reason === 'unknown-type' ? 'unknown' : 'invalid';
  const e = parsed.event;
  const who = { actor: `locker:${r.lockerId}`, reason: `${r.type} #${String(r.seq)}` };
  // Seqs restart with each device database (epoch): a replaced database's records are new.
  const key = `${r.lockerId}:${r.epoch}:${String(r.seq)}`;
  const { store, parcels } = deps;
  const security = async (kind: AlertKind, compartmentId: string | null, reason: string | null, at = r.at): Promise<MapOutcome> => {
    await deps.alerts.raise(r.lockerId, kind, key, { seq: r.seq, at, compartmentId, reason });
    return 'applied';
  };

  if (faultTypes.has(e.type) && 'compartmentId' in e.data) {
    await deps.alerts.raise(r.lockerId, 'fault.door', key, { seq: r.seq, type: r.type, compartmentId: e.data.compartmentId });
    return 'applied';
  }
  switch (e.type) {
    case 'keypad.lockout':
      return security('security.keypad-lockout', null, e.data.reason);
    case 'door.uncommanded-open':
      return security('security.uncommanded-open', e.data.compartmentId, null, eventTime(r, e.data, log));
    case 'pickup.suspicious':
      return security('security.suspicious-pickup', null, e.data.reason);
    case 'keypad.odds-degraded':
      // More guessable codes on the keypad than its brute-force bound assumes: only the
      // backend can fix it (fewer parcels there, or longer codes), so someone must hear.
      await deps.alerts.raise(r.lockerId, 'security.keypad-odds-degraded', key, { seq: r.seq, liveCodes: e.data.liveCodes, awaitingDeposit: e.data.awaitingDeposit, maxLiveCodes: e.data.maxLiveCodes });
      return 'applied';
    case 'input.rejection-burst':
      // A reader sending garbage (a failing scanner or keypad, or someone on its serial line).
      await deps.alerts.raise(r.lockerId, 'fault.input-rejection-burst', key, { seq: r.seq, source: e.data.source, reason: e.data.reason, threshold: e.data.threshold, windowMs: e.data.windowMs });
      return 'applied';
    case 'courier.deposited': {
      const sid = await shipmentOf(store, r.lockerId, e.data);
      if (sid === undefined) return 'ignored';
      const outcome = await parcels.deposited(sid, r.lockerId, e.data.compartmentId, eventTime(r, e.data, log), who);
      if (outcome !== 'ignored') return outcome;
      // The locker took the parcel in before it heard that its code was withdrawn (cancelled,
      // or returned to sender by the carrier while the locker was offline): a parcel is
      // inside that no customer will collect. Someone has to take it out.
      const s = await store.shipments.get(sid);
      // Whichever locker reports it: a courier who used the wrong locker still left it there.
      if (s === undefined || !NOT_LIVE.has(s.state)) return 'ignored';
      await deps.faults.parcelInside(r.lockerId, e.data.compartmentId, sid, key);
      await deps.alerts.raise(r.lockerId, 'fault.parcel-not-live', key, { seq: r.seq, compartmentId: e.data.compartmentId, parcelId: sid, shipmentState: s.state });
      return 'applied';
    }
    case 'pickup.collected': {
      const sid = await shipmentOf(store, r.lockerId, e.data);
      return sid === undefined ? 'ignored' : parcels.collected(sid, r.lockerId, who, eventTime(r, e.data, log));
    }
    case 'pickup.expired': {
      const sid = await shipmentOf(store, r.lockerId, e.data);
      return sid === undefined ? 'ignored' : parcels.expire(sid, who);
    }
    case 'return.dropped-off': {
      const sid = await shipmentOf(store, r.lockerId, e.data);
      if (sid === undefined) return 'ignored';
      const outcome = await parcels.returnDropped(sid, r.lockerId, who);
      if (outcome !== 'ignored') return outcome;
      // Recorded before the code expired, uploaded after the return-expiry sweep freed the
      // door: the parcel is inside, so the door is taken back (a hold on it moves away).
      const s = await store.shipments.get(sid);
      if (s === undefined || !isLateReturn(s, r.lockerId, e.data)) return 'ignored';
      await deps.faults.parcelInside(r.lockerId, e.data.compartmentId, sid, key);
      return parcels.lateReturnDropped(sid, r.lockerId, e.data, who);
    }
    case 'return.retrieved': {
      // The retrieval credential names one parcel; the contract carries it as parcelId.
      const sid = await shipmentOf(store, r.lockerId, e.data);
      return sid === undefined ? 'ignored' : parcels.retrieved(sid, r.lockerId, who, eventTime(r, e.data, log));
    }
    case 'compartment.out-of-service':
      await deps.faults.outOfService(r.lockerId, e.data.compartmentId, e.data.reason ?? 'door fault', key);
      return 'applied';
    case 'compartment.in-service':
      return deps.faults.inService(r.lockerId, e.data.compartmentId, e.data.to, e.data.parcelId, key);
    case 'technician.task':
      // The locker cannot tell what is in the compartment: someone has to go and look.
      await deps.alerts.raise(r.lockerId, 'fault.technician-task', key, { seq: r.seq, compartmentId: e.data.compartmentId, task: e.data.task, cause: e.data.cause, outOfService: e.data.outOfService });
      return 'applied';
    case 'courier.deposited-not-live': {
      // A parcel inside whose code is gone for good (the order was cancelled meanwhile): its
      // door is full whatever the backend's records said, and a courier must take it out.
      const sid = await shipmentOf(store, r.lockerId, e.data);
      const s = sid === undefined ? undefined : await store.shipments.get(sid);
      if (s !== undefined && NOT_LIVE.has(s.state)) await deps.faults.parcelInside(r.lockerId, e.data.compartmentId, s.id, key);
      await deps.alerts.raise(r.lockerId, 'fault.parcel-not-live', key, { seq: r.seq, compartmentId: e.data.compartmentId, parcelId: e.data.parcelId, entryState: e.data.entryState });
      return 'applied';
    }
    case 'code-batch.keyring-rebind-refused':
      // Someone holding a backend signing key tried to replace a key the board was installed with.
      await deps.alerts.raise(r.lockerId, 'security.keyring-rebind', key, { seq: r.seq, kid: e.data.kid, toVersion: e.data.toVersion });
      return 'applied';
    case 'clock.jump':
      if (r.lane !== 'priority') return 'ignored';
      await deps.alerts.raise(r.lockerId, 'security.clock-jump', key, { seq: r.seq, direction: e.data.direction });
      return 'applied';
    default:
      return 'unmapped';
  }
}
