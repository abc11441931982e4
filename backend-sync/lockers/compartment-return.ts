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
// revoked, or a drop-off). When the two disagree a person has to look; until then the
// compartment is never sold while the locker says something is inside it.

/** Shipment states in which the parcel is inside its compartment. */
const INSIDE: ReadonlySet<ShipmentState> = new Set(['delivered', 'expired', 'return_dropped']);
/** Shipment states in which a parcel is still to come into its compartment. */
const COMING: ReadonlySet<ShipmentState> = new Set(['created', 'shipped', 'out_for_delivery', 'return_requested']);

export interface CompartmentReturnFacts {
  compartmentId: string;
  lockerId: string;
  /** The reservation the compartment row still names, if any. */
  reservation?: { status: ReservationStatus } | undefined;
  /** That reservation's shipment, if any. */
  shipment?: { id: string; state: ShipmentState; lockerId?: string | undefined; compartmentId?: string | undefined } | undefined;
  /** The locker's own status after the change (`free` or `occupied`). */
  lockerSays: string;
}

export interface StateMismatch {
  backend: CompartmentState;
  locker: string;
  shipmentId: string | null;
}

export type CompartmentReturn =
  /** Back to `state`; `keepReservation` false clears the row's reservation id. */
  | { kind: 'restore'; state: CompartmentState; keepReservation: boolean; mismatch?: StateMismatch }
  /** The locker holds something the backend does not place there: stays out of service. */
  | { kind: 'keep-out'; mismatch: StateMismatch };

function backendView(f: CompartmentReturnFacts): { state: CompartmentState; keepReservation: boolean } {
  const { reservation: r, shipment: s } = f;
  const here = s !== undefined && s.lockerId === f.lockerId && s.compartmentId === f.compartmentId;
  // A parcel inside keeps its compartment whatever became of the reservation (a released
  // one still names the compartment: that is how the parcel is found).
  if (here && INSIDE.has(s.state)) return { state: 'occupied', keepReservation: true };
  if (r?.status === 'held') return { state: 'held', keepReservation: true };
  if (r?.status === 'confirmed') return { state: 'reserved', keepReservation: true };
  if (r?.status === 'consumed' && here && COMING.has(s.state)) return { state: 'reserved', keepReservation: true };
  return { state: 'free', keepReservation: false };
}

export function compartmentReturn(f: CompartmentReturnFacts): CompartmentReturn {
  const view = backendView(f);
  const lockerHolds = f.lockerSays === 'occupied';
  const mismatch: StateMismatch = { backend: view.state, locker: f.lockerSays, shipmentId: f.shipment?.id ?? null };
  if (lockerHolds && view.state !== 'occupied') return { kind: 'keep-out', mismatch };
  // The backend's parcel stays on record (its customer holds a code); someone checks the door.
  if (!lockerHolds && view.state === 'occupied') return { kind: 'restore', ...view, mismatch };
  return { kind: 'restore', ...view };
}
