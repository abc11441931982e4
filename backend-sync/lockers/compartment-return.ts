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
/** Shipment states that ended while their parcel may still be deposited (a stray parcel, CompartmentFaults.parcelInside). */
const ENDED: ReadonlySet<ShipmentState> = new Set(['cancelled', 'returned_to_sender']);

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
  reservationId?: string | undefined;
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

/** The backend placed the locker's parcel at another door: its reservation and shipment move here, that door is freed. */
export interface MoveParcel {
  shipmentId: string;
  reservationId: string;
  from: string | undefined;
}

export type CompartmentReturn =
  | ({ kind: 'restore'; mismatch?: StateMismatch; moveParcel?: MoveParcel } & Restored)
  /** The locker holds something the backend does not place there: stays out of service. */
  | { kind: 'keep-out'; mismatch: StateMismatch };

function isHere(f: CompartmentReturnFacts, s: ShipmentFacts | undefined): s is ShipmentFacts {
  return s !== undefined && s.lockerId === f.lockerId && s.compartmentId === f.compartmentId;
}

function backendView(f: CompartmentReturnFacts, reservationId: string | null): Restored {
  const { reservation: r, shipment: s, lockerParcel: p } = f;
  const free: Restored = { state: 'free', reservationId: null, holdExpiresAt: null };
  // A parcel inside keeps its compartment whatever became of the reservation (a released
  // one still names the compartment: that is how the parcel is found). The locker's parcel
  // counts too: a courier may have re-slotted it into a door whose row names another
  // reservation, or none.
  if (isHere(f, s) && INSIDE.has(s.state)) return { state: 'occupied', reservationId, holdExpiresAt: null };
  if (isHere(f, p) && INSIDE.has(p.state)) return { state: 'occupied', reservationId: p.reservationId ?? reservationId, holdExpiresAt: null };
  // A stray parcel (its shipment ended before the locker took it in): the row names its
  // ended reservation, which is how a courier is sent for it. While the locker still counts
  // it inside, the door stays occupied; freed, it would be sold with the parcel in it, and
  // kept out, no retrieval token could be issued for it.
  if (f.lockerSays === 'occupied' && isHere(f, p) && ENDED.has(p.state) && p.reservationId !== undefined && p.reservationId === reservationId) {
    return { state: 'occupied', reservationId, holdExpiresAt: null };
  }
  // A live reservation counts only while it is still this compartment's: one the fault
  // moved to another door still names this one in the row.
  if (r === undefined || r.lockerId !== f.lockerId || r.compartmentId !== f.compartmentId) return free;
  // With its expiry: a lapsed hold reads as free and the next claim ends it, as any other.
  if (r.status === 'held') return { state: 'held', reservationId, holdExpiresAt: r.expiresAt };
  if (r.status === 'confirmed') return { state: 'reserved', reservationId, holdExpiresAt: null };
  if (r.status === 'consumed' && isHere(f, s) && COMING.has(s.state)) return { state: 'reserved', reservationId, holdExpiresAt: null };
  return free;
}

export function compartmentReturn(f: CompartmentReturnFacts, reservationId: string | null): CompartmentReturn {
  const view = backendView(f, reservationId);
  const lockerHolds = f.lockerSays === 'occupied';
  const mismatch: StateMismatch = { backend: view.state, locker: f.lockerSays, shipmentId: f.shipment?.id ?? null, lockerParcelId: f.lockerParcelId ?? null };
  const p = f.lockerParcel;
  if (lockerHolds && view.state !== 'occupied') {
    // The parcel the backend awaits here is coming (a drop-off code the locker already
    // counts), or its deposit record is still in flight: held for it, so the drop-off,
    // deposit or collection moves it on.
    if (view.state === 'reserved' && p !== undefined && (f.shipment?.id === p.id || (isHere(f, p) && COMING.has(p.state)))) return { kind: 'restore', ...view };
    // A parcel on its way to this locker whose deposit here is in flight, placed elsewhere
    // by the backend (the fault re-slotted it): it moves here with its reservation (one door
    // per reservation), so the deposit lands where it is and a cancellation frees this door.
    if (p !== undefined && p.lockerId === f.lockerId && COMING.has(p.state) && p.reservationId !== undefined && view.state === 'free') {
      return { kind: 'restore', state: 'reserved', reservationId: p.reservationId, holdExpiresAt: null, moveParcel: { shipmentId: p.id, reservationId: p.reservationId, from: p.compartmentId } };
    }
    return { kind: 'keep-out', mismatch };
  }
  // The backend's parcel stays on record (its customer holds a code); someone checks the door.
  if (!lockerHolds && view.state === 'occupied') return { kind: 'restore', ...view, mismatch };
  return { kind: 'restore', ...view };
}
