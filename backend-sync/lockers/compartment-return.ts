import type { CompartmentState } from './locker-schemas.js';
import type { ReservationStatus } from '../store/records.js';
import type { ShipmentState } from '../orders/shipment-state-machine.js';

// A compartment the locker put back into service (an operator's set-compartment-service
// command, or the technician on site): which state the backend's capacity bookkeeping
// returns it to. Pure: the facts are read by CompartmentFaults.inService.
//
// The backend's own records say what the compartment is promised to: the reservation it
// still names, and that reservation's parcel. The locker says what is physically inside as
// far as it can tell (`occupied` for any parcel it still holds there: live, expired,
// revoked, or a drop-off whose code is live, even before anything was put in), and which
// parcel. Its records can be ahead of the backend's: a deposit travels in the normal lane
// and may be applied after the priority lane's in-service. So the locker's parcel agrees
// when it is the parcel the backend has here or on its way to this locker. Otherwise a
// person has to look; until then the compartment is never sold while the locker says
// something is inside it.

/** Shipment states in which the parcel is inside its compartment. */
const INSIDE: ReadonlySet<ShipmentState> = new Set(['delivered', 'expired', 'return_dropped']);
/** Shipment states in which a parcel is still to come into its compartment. */
const COMING: ReadonlySet<ShipmentState> = new Set(['created', 'shipped', 'out_for_delivery', 'return_requested']);

export interface CompartmentReturnFacts {
  compartmentId: string;
  lockerId: string;
  now: number;
  /** The reservation the compartment row still names, if any. */
  reservation?: { status: ReservationStatus; lockerId: string; compartmentId: string; expiresAt: number } | undefined;
  /** That reservation's shipment, if any. */
  shipment?: ShipmentFacts | undefined;
  /** The locker's own status after the change (`free` or `occupied`). */
  lockerSays: string;
  /** The parcel id the locker counts inside, as it sent it. */
  lockerParcelId?: string | undefined;
  /** The shipment that parcel id names, when it names one of ours. */
  lockerParcel?: ShipmentFacts | undefined;
}

export interface ShipmentFacts {
  id: string;
  state: ShipmentState;
  lockerId?: string | undefined;
  compartmentId?: string | undefined;
}

export interface StateMismatch {
  backend: CompartmentState;
  locker: string;
  shipmentId: string | null;
  lockerParcelId: string | null;
}

/** Back to `state`, naming the reservation (null: none) with the hold's expiry (null unless held). */
export interface Restored {
  state: CompartmentState;
  reservationId: string | null;
  holdExpiresAt: number | null;
}

export type CompartmentReturn =
  | ({ kind: 'restore'; mismatch?: StateMismatch } & Restored)
  /** The locker holds something the backend does not place there: stays out of service. */
  | { kind: 'keep-out'; mismatch: StateMismatch };

function isHere(f: CompartmentReturnFacts, s: ShipmentFacts | undefined): s is ShipmentFacts {
  return s !== undefined && s.lockerId === f.lockerId && s.compartmentId === f.compartmentId;
}

function backendView(f: CompartmentReturnFacts, reservationId: string | null): Restored {
  const { reservation: r, shipment: s } = f;
  const free: Restored = { state: 'free', reservationId: null, holdExpiresAt: null };
  // A parcel inside keeps its compartment whatever became of the reservation (a released
  // one still names the compartment: that is how the parcel is found).
  if (isHere(f, s) && INSIDE.has(s.state)) return { state: 'occupied', reservationId, holdExpiresAt: null };
  // A live reservation counts only while it is still this compartment's: one the fault
  // moved to another door still names this one in the row.
  if (r === undefined || r.lockerId !== f.lockerId || r.compartmentId !== f.compartmentId) return free;
  // A lapsed hold is free in effect (as reads treat it); the next claim or the sweeper ends it.
  if (r.status === 'held') return r.expiresAt > f.now ? { state: 'held', reservationId, holdExpiresAt: r.expiresAt } : free;
  if (r.status === 'confirmed') return { state: 'reserved', reservationId, holdExpiresAt: null };
  if (r.status === 'consumed' && isHere(f, s) && COMING.has(s.state)) return { state: 'reserved', reservationId, holdExpiresAt: null };
  return free;
}

/** The locker's parcel is one the backend has here, or one on its way to this locker (its deposit record not applied yet). */
function lockerParcelAgrees(f: CompartmentReturnFacts, view: Restored): boolean {
  const p = f.lockerParcel;
  if (p === undefined) return false;
  if (view.state === 'occupied' || view.state === 'reserved') return f.shipment?.id === p.id || (isHere(f, p) && (INSIDE.has(p.state) || COMING.has(p.state)));
  return p.lockerId === f.lockerId && COMING.has(p.state);
}

export function compartmentReturn(f: CompartmentReturnFacts, reservationId: string | null): CompartmentReturn {
  const view = backendView(f, reservationId);
  const lockerHolds = f.lockerSays === 'occupied';
  const mismatch: StateMismatch = { backend: view.state, locker: f.lockerSays, shipmentId: f.shipment?.id ?? null, lockerParcelId: f.lockerParcelId ?? null };
  if (lockerHolds && view.state !== 'occupied') {
    if (!lockerParcelAgrees(f, view)) return { kind: 'keep-out', mismatch };
    // The parcel is coming (a drop-off code the locker already counts) or its deposit is
    // still in flight: held for it, so the deposit, drop-off or collection moves it on. A
    // deposit in flight names its own reservation when it lands; the row's may have moved
    // to another door with the fault, so it is not kept.
    return view.state === 'reserved' ? { kind: 'restore', ...view } : { kind: 'restore', state: 'reserved', reservationId: null, holdExpiresAt: null };
  }
  // The backend's parcel stays on record (its customer holds a code); someone checks the door.
  if (!lockerHolds && view.state === 'occupied') return { kind: 'restore', ...view, mismatch };
  return { kind: 'restore', ...view };
}
