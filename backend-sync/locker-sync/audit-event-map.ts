import { z } from 'zod';
import type { Alerts, AlertKind } from '../lockers/alerts.js';
import type { CompartmentFaults } from '../lockers/compartment-faults.js';
import type { ParcelEvents } from '../orders/parcel-events.js';
import type { AuditRecordRow } from '../store/records.js';
import type { Store } from '../store/store.js';

// The ONE mapping from the device's audit record types (device/runtime, device/core) to
// backend effects. Events only drive state transitions (which feed the outbox); nothing
// here notifies anyone directly. Unknown types are stored and ignored: the device may
// audit more than the backend acts on.

export interface EventMapDeps {
  store: Store;
  parcels: ParcelEvents;
  faults: CompartmentFaults;
  alerts: Alerts;
}

export type MapOutcome = 'applied' | 'ignored' | 'unmapped' | 'invalid';

const Loose = z.looseObject({
  tokenId: z.string().optional(),
  parcelId: z.string().optional(),
  compartmentId: z.string().optional(),
  reason: z.string().optional(),
  parcels: z.array(z.string()).optional(),
  direction: z.string().optional(),
});
type Data = z.infer<typeof Loose>;

const securityTypes: Readonly<Record<string, AlertKind>> = {
  'keypad.lockout': 'security.keypad-lockout',
  'door.uncommanded-open': 'security.uncommanded-open',
  'pickup.suspicious': 'security.suspicious-pickup',
};
const faultTypes: ReadonlySet<string> = new Set(['door.jammed', 'door.relay-fault', 'door.sensor-unknown', 'door.open-unknown', 'door.left-open']);

/** The shipment a record is about: its parcel id, else the token's code entry. */
function shipmentOf(store: Store, lockerId: string, d: Data): string | undefined {
  if (d.parcelId !== undefined && store.shipments.get(d.parcelId) !== undefined) return d.parcelId;
  if (d.tokenId !== undefined) return store.codeSets.entry(lockerId, d.tokenId)?.shipmentId;
  return undefined;
}

export function mapAuditEvent(r: AuditRecordRow, deps: EventMapDeps): MapOutcome {
  let json: unknown;
  try {
    json = JSON.parse(r.dataJson);
  } catch {
    return 'invalid';
  }
  const parsed = Loose.safeParse(json);
  if (!parsed.success) return 'invalid';
  const d = parsed.data;
  const who = { actor: `locker:${r.lockerId}`, reason: `${r.type} #${String(r.seq)}` };
  const key = `${r.lockerId}:${String(r.seq)}`;
  const { store, parcels } = deps;

  const security = securityTypes[r.type];
  if (security !== undefined) {
    deps.alerts.raise(r.lockerId, security, key, { seq: r.seq, at: r.at, compartmentId: d.compartmentId ?? null, reason: d.reason ?? null });
    return 'applied';
  }
  if (faultTypes.has(r.type)) {
    deps.alerts.raise(r.lockerId, 'fault.door', key, { seq: r.seq, type: r.type, compartmentId: d.compartmentId ?? null });
    return 'applied';
  }
  switch (r.type) {
    case 'courier.deposited': {
      const sid = shipmentOf(store, r.lockerId, d);
      return sid === undefined ? 'ignored' : parcels.deposited(sid, r.lockerId, d.compartmentId, r.at, who);
    }
    case 'pickup.collected': {
      const sid = shipmentOf(store, r.lockerId, d);
      return sid === undefined ? 'ignored' : parcels.collected(sid, r.lockerId, who);
    }
    case 'pickup.expired': {
      const sid = shipmentOf(store, r.lockerId, d);
      return sid === undefined ? 'ignored' : parcels.expire(sid, who);
    }
    case 'return.dropped-off': {
      const sid = shipmentOf(store, r.lockerId, d);
      return sid === undefined ? 'ignored' : parcels.returnDropped(sid, r.lockerId, who);
    }
    case 'return.retrieved': {
      let any: MapOutcome = 'ignored';
      for (const pid of d.parcels ?? []) if (parcels.retrieved(pid, r.lockerId, who) === 'applied') any = 'applied';
      return any;
    }
    case 'compartment.out-of-service':
      if (d.compartmentId === undefined) return 'invalid';
      deps.faults.outOfService(r.lockerId, d.compartmentId, d.reason ?? 'door fault', key);
      return 'applied';
    case 'clock.jump':
      if (r.lane !== 'priority') return 'ignored';
      deps.alerts.raise(r.lockerId, 'security.clock-jump', key, { seq: r.seq, direction: d.direction ?? null });
      return 'applied';
    default:
      return 'unmapped';
  }
}
