import type { TrackingStatus } from '../tracking-event.js';

// Which status may follow which (docs/backend.md, "Tracking"). Pure: the fold asks this for
// every event newer than the last applied one. A carrier may skip steps (label_created →
// delivered is legal), so forward means "further along", not "the next one". An exception
// can interrupt any parcel still on its way and recovers to in_transit or further. A step
// backwards is illegal: the event is kept in history and flagged for review, never applied.
// Trouble before the pickup (the carrier did not collect it) recovers with the pickup too.

/** How far along each status is; exception has no place on this line (see below). */
const progress: Readonly<Record<Exclude<TrackingStatus, 'exception'>, number>> = {
  label_created: 0,
  picked_up: 1,
  in_transit: 2,
  out_for_delivery: 3,
  delivered: 4,
  // A locker parcel: the carrier may report delivered (to the locker) before the door event.
  available_for_pickup: 5,
  collected: 6,
  returned_to_sender: 7,
};

/** Statuses after which the parcel is no longer on its way: no exception, no return. */
const settled: ReadonlySet<TrackingStatus> = new Set(['delivered', 'collected', 'returned_to_sender']);
/** Nothing follows these. */
const final: ReadonlySet<TrackingStatus> = new Set(['collected', 'returned_to_sender']);

/**
 * Statuses that end the journey: the parcel arrived (at the door, a locker or a pickup
 * point), was collected, or went back. Each of them is legal from every status that is not
 * one of them, so a late scan can move the first of them only earlier, never make it illegal.
 */
const journeyEnds: ReadonlySet<TrackingStatus> = new Set(['delivered', 'available_for_pickup', 'collected', 'returned_to_sender']);

/** Whether `status` ends the parcel's journey (see journeyEnds). */
export function endsJourney(status: TrackingStatus | null): boolean {
  return status !== null && journeyEnds.has(status);
}

/** Whether the carrier had taken the parcel: some status past the label was applied. */
function carrierHadIt(reached: readonly TrackingStatus[]): boolean {
  return reached.some((s) => s !== 'exception' && s !== 'label_created');
}

export type Verdict = { legal: true } | { legal: false; reason: string };

/**
 * Whether one of our lockers has taken the parcel in (a deposit applied in this parcel's
 * cycle), and whether the event is that locker's own (source `locker`, not a carrier's: a
 * carrier's canonical event may name a locker too). From the deposit on, the locker's doors
 * decide: a carrier's exception or return scan of a parcel in a compartment is a mis-scan
 * (a handheld that synced late, a "locker full" for a parcel that went in), and the locker's
 * pickup outranks its own expiry (the parcel was still in the compartment).
 */
export interface LockerContext {
  inLocker: boolean;
  byLocker: boolean;
}

const CARRIER_ONLY: LockerContext = { inLocker: false, byLocker: false };
const CONTEXTS: readonly LockerContext[] = [CARRIER_ONLY, { inLocker: false, byLocker: true }, { inLocker: true, byLocker: false }, { inLocker: true, byLocker: true }];

/** The context for these two facts, without an allocation (the fold asks once per event). */
export function lockerContext(inLocker: boolean, byLocker: boolean): LockerContext {
  return CONTEXTS[(inLocker ? 2 : 0) + (byLocker ? 1 : 0)] as LockerContext;
}

const illegal = (from: TrackingStatus, to: TrackingStatus): Verdict => ({ legal: false, reason: `${from} → ${to}` });

/**
 * Whether an event of status `to`, newer than the last applied one (status `from`), may be
 * applied; `reached` is every status applied so far (the parcel's own, in the fold), and
 * `locker` says whether one of our lockers holds it and reports this event.
 */
export function transitionVerdict(from: TrackingStatus | null, to: TrackingStatus, reached: readonly TrackingStatus[] = [], locker: LockerContext = CARRIER_ONLY): Verdict {
  if (from === null) return { legal: true };
  // A newer scan of the same status moves time and location only (even after the end).
  if (from === to) return { legal: true };
  if (locker.inLocker) {
    if (from === 'available_for_pickup' && !locker.byLocker) return { legal: false, reason: `${from} → ${to} (the parcel is in a locker: its doors decide)` };
    // Collected after the expiry (recorded while the locker was offline, or before the revoked code reached it).
    if (from === 'returned_to_sender' && to === 'collected' && locker.byLocker) return { legal: true };
  }
  if (final.has(from)) return illegal(from, to);
  if (to === 'exception') return settled.has(from) ? illegal(from, to) : { legal: true };
  if (to === 'returned_to_sender') return settled.has(from) ? illegal(from, to) : { legal: true };
  // Trouble before the carrier had the parcel (a pickup that failed) recovers with the pickup.
  if (from === 'exception') return progress[to] >= (carrierHadIt(reached) ? progress.in_transit : progress.picked_up) ? { legal: true } : illegal(from, to);
  return progress[to] > progress[from] ? { legal: true } : illegal(from, to);
}

// The order among events with the same event time (a content tiebreak, so the fold is the
// same whatever order they arrived in): the usual flow order, exception after in_transit.
const tieRank: Readonly<Record<TrackingStatus, number>> = {
  label_created: 0,
  picked_up: 1,
  in_transit: 2,
  exception: 3,
  out_for_delivery: 4,
  delivered: 5,
  available_for_pickup: 6,
  collected: 7,
  returned_to_sender: 8,
};

export function tieBreakRank(status: TrackingStatus): number {
  return tieRank[status];
}
