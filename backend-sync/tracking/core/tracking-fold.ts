import { z } from 'zod';
import { TrackingLocation, TrackingStatus, type CanonicalTrackingEvent } from '../tracking-event.js';
import { endsJourney, lockerContext, transitionVerdict } from './status-rules.js';
import { hashOfOrderKey, isPromiseRevision, revisedScanHash } from './event-identity.js';

// The current state of one tracking number is DEFINED as a fold over its history sorted by
// order key (event time, then a content tiebreak): an event moves the state only if it is
// newer than the last applied one and the transition is legal; an illegal one is flagged.
// The live applier folds one step at a time while events arrive in order, and re-folds
// the whole history when one arrives late, so the live projection always equals the fold
// of its history, whatever the arrival order (docs/decisions/0030). Pure: no clock, no I/O.
//
// Carriers recycle tracking numbers. A new label (label created) that the parcel's state
// refuses, more than REUSED_NUMBER_GAP_MS after its journey ended, is a new parcel, not a
// step backwards: the fold starts a new cycle from it (status, milestones, location and
// recent scans are the new parcel's alone), keeping the event and flag counts. The journey
// ended at `settledAt`, the first event that made it delivered, available for pickup,
// collected or returned. A parcel that is not at one of those can reach each of them, so a
// late scan of the old parcel can move that point only earlier, and every state reachable
// after it refuses a new label: no late scan of the old parcel undoes a cycle. Only a label
// starts a new parcel: picked up and in transit are also the first scans of a way back (an
// uncollected parcel leaving a pickup point, a long return trip), so a new parcel first seen
// past its label stays flagged as before. A journey that never ended (lost, a voided label)
// is not followed by a new cycle: nothing in its scans says when it was over, and a guess
// from silence was undone by late scans (docs/decisions/0030). The rule sits in the fold,
// so live steps, re-folds and the rebuild agree.

/** A new label this long after the journey ended is the carrier's recycled number: a new parcel. */
export const REUSED_NUMBER_GAP_MS = 30 * 24 * 3_600_000;
/** One history entry as the fold sees it. */
export interface FoldEvent {
  key: string;
  hash: string;
  event: CanonicalTrackingEvent;
  /** One of our lockers reported it (history source `locker`): its doors decide (status-rules.ts, LockerContext). */
  byLocker?: boolean;
}

export const RECENT_LIMIT = 10;

export const RecentEntry = z.object({
  status: TrackingStatus,
  carrierStatus: z.string(),
  carrierReason: z.string().optional(),
  eventTime: z.number(),
  location: TrackingLocation.optional(),
  lockerId: z.string().optional(),
  flagged: z.boolean(),
});
export type RecentEntry = z.infer<typeof RecentEntry>;

export const TrackingProjection = z.object({
  trackingNumber: z.string(),
  carrier: z.string(),
  status: TrackingStatus.nullable(),
  lastEventTime: z.number().nullable(),
  /** Order key of the last applied event. */
  lastAppliedKey: z.string().nullable(),
  /** Order key of the newest event in history (applied or flagged): the fast path's bound. */
  maxKey: z.string().nullable(),
  location: TrackingLocation.nullable(),
  lockerId: z.string().nullable(),
  compartmentId: z.string().nullable(),
  /** The carrier's promised delivery instant, from the last applied event that carried one. */
  carrierPromise: z.number().nullable(),
  /** Every status applied at least once, in first-applied order of the fold (milestones). */
  reached: z.array(TrackingStatus),
  /** Newest first, at most RECENT_LIMIT. */
  recent: z.array(RecentEntry),
  events: z.number().int(),
  flagged: z.number().int(),
  /** How many times the carrier has reused the number before the parcel it tracks now (0: the first parcel). */
  cycle: z.number().int().default(0),
  /** Event time of the current parcel's first scan, once the number has been reused (null for the first parcel). */
  cycleStart: z.number().nullable().default(null),
  /** Event time at which the current parcel's journey ended (first delivered, available for pickup, collected or returned to sender); null while on its way. */
  settledAt: z.number().nullable().default(null),
  /** When the number's previous parcel had ended: shipments created since then are the current parcel's (null for the first parcel). */
  previousSettledAt: z.number().nullable().default(null),
  /** One of our lockers took the current parcel in (its deposit was applied): from then on its doors decide. */
  inLocker: z.boolean().default(false),
});
export type TrackingProjection = z.infer<typeof TrackingProjection>;

export interface Flag {
  hash: string;
  from: TrackingStatus | null;
  to: TrackingStatus;
  eventTime: number;
  reason: string;
}

export function emptyProjection(trackingNumber: string, carrier: string): TrackingProjection {
  return {
    trackingNumber,
    carrier,
    status: null,
    lastEventTime: null,
    lastAppliedKey: null,
    maxKey: null,
    location: null,
    lockerId: null,
    compartmentId: null,
    carrierPromise: null,
    reached: [],
    recent: [],
    events: 0,
    flagged: 0,
    cycle: 0,
    cycleStart: null,
    settledAt: null,
    previousSettledAt: null,
    inLocker: false,
  };
}

/** When the parcel `p` tracks ended its journey; null while it is on its way. */
export function journeyEndedAt(p: TrackingProjection): number | null {
  // A projection stored before settledAt existed, at an ending status: its last event is the best known end.
  return p.settledAt ?? (endsJourney(p.status) ? p.lastEventTime : null);
}

/** Whether `ev` is a new parcel under a recycled number rather than a scan of the one `p` tracks. */
function startsNewParcel(p: TrackingProjection, ev: CanonicalTrackingEvent): boolean {
  const endedAt = journeyEndedAt(p);
  return (
    endedAt !== null &&
    ev.status === 'label_created' &&
    ev.eventTime - endedAt > REUSED_NUMBER_GAP_MS &&
    !transitionVerdict(p.status, ev.status).legal
  );
}

/** The state a recycled number starts its next parcel from: nothing of the last one but the counts. */
function nextCycle(p: TrackingProjection, ev: CanonicalTrackingEvent): TrackingProjection {
  return {
    ...emptyProjection(p.trackingNumber, p.carrier),
    maxKey: p.maxKey,
    events: p.events,
    flagged: p.flagged,
    cycle: p.cycle + 1,
    cycleStart: ev.eventTime,
    previousSettledAt: p.settledAt ?? p.lastEventTime,
  };
}

function recentOf(e: CanonicalTrackingEvent, flagged: boolean): RecentEntry {
  const r: RecentEntry = { status: e.status, carrierStatus: e.carrierStatus, eventTime: e.eventTime, flagged };
  if (e.carrierReason !== undefined) r.carrierReason = e.carrierReason;
  if (e.location !== undefined) r.location = e.location;
  if (e.lockerId !== undefined) r.lockerId = e.lockerId;
  return r;
}

export type StepOutcome = { kind: 'applied' } | { kind: 'flagged'; flag: Flag };

/**
 * One fold step. The caller guarantees `e.key` is greater than `p.maxKey` (events in
 * order); a late event is not a step but a re-fold (foldHistory).
 */
export function foldStep(current: TrackingProjection, e: FoldEvent): { next: TrackingProjection; outcome: StepOutcome } {
  const ev = e.event;
  // A revised promise: the promise is all it brings (no scan, no step), and only while the
  // scan it revises is the last one applied (a late scan may have made that one illegal
  // since: its revisions go with it, whatever order things arrived in).
  if (isPromiseRevision(e.hash)) {
    const ofLastApplied = current.lastAppliedKey !== null && hashOfOrderKey(current.lastAppliedKey) === revisedScanHash(e.hash);
    return { next: { ...current, maxKey: e.key, carrierPromise: ofLastApplied ? (ev.estimatedDeliveryAt ?? current.carrierPromise) : current.carrierPromise }, outcome: APPLIED };
  }
  const p = startsNewParcel(current, ev) ? nextCycle(current, ev) : current;
  const byLocker = e.byLocker === true;
  const verdict = transitionVerdict(p.status, ev.status, p.reached, lockerContext(p.inLocker, byLocker));
  // One object literal per step (no spread of a spread): the live applier runs this per event.
  if (!verdict.legal) {
    const flag: Flag = { hash: e.hash, from: p.status, to: ev.status, eventTime: ev.eventTime, reason: `illegal transition ${verdict.reason}` };
    return { next: { ...p, maxKey: e.key, events: p.events + 1, flagged: p.flagged + 1, recent: pushRecent(p.recent, recentOf(ev, true)) }, outcome: { kind: 'flagged', flag } };
  }
  const next: TrackingProjection = {
    trackingNumber: p.trackingNumber,
    carrier: p.carrier,
    status: ev.status,
    lastEventTime: ev.eventTime,
    lastAppliedKey: e.key,
    maxKey: e.key,
    location: ev.location ?? p.location,
    lockerId: ev.lockerId ?? p.lockerId,
    compartmentId: ev.compartmentId ?? p.compartmentId,
    carrierPromise: ev.estimatedDeliveryAt ?? p.carrierPromise,
    reached: p.reached.includes(ev.status) ? p.reached : [...p.reached, ev.status],
    recent: pushRecent(p.recent, recentOf(ev, false)),
    events: p.events + 1,
    flagged: p.flagged,
    cycle: p.cycle,
    cycleStart: p.cycleStart,
    settledAt: p.settledAt ?? (endsJourney(ev.status) ? ev.eventTime : null),
    previousSettledAt: p.previousSettledAt,
    inLocker: p.inLocker || (byLocker && ev.status === 'available_for_pickup'),
  };
  return { next, outcome: APPLIED };
}

const APPLIED: StepOutcome = { kind: 'applied' };

/** `entry` first, then the newest of `recent`, at most RECENT_LIMIT in all. */
function pushRecent(recent: readonly RecentEntry[], entry: RecentEntry): RecentEntry[] {
  const n = Math.min(recent.length, RECENT_LIMIT - 1);
  const out = new Array<RecentEntry>(n + 1);
  out[0] = entry;
  for (let i = 0; i < n; i++) out[i + 1] = recent[i] as RecentEntry;
  return out;
}

export function compareKeys(a: FoldEvent, b: FoldEvent): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * The projection of a whole history (any order in; sorted here), the events it flags, the
 * state each of a recycled number's earlier parcels ended in (just before each switch to a
 * new cycle, oldest first), and the order key of each later parcel's first event
 * (`cycleStarts[i]` began the parcel after `cycleEnds[i]`).
 */
export function foldHistory(
  trackingNumber: string,
  carrier: string,
  history: readonly FoldEvent[],
): { projection: TrackingProjection; flags: Flag[]; cycleEnds: TrackingProjection[]; cycleStarts: string[] } {
  let p = emptyProjection(trackingNumber, carrier);
  const cycleEnds: TrackingProjection[] = [];
  const cycleStarts: string[] = [];
  const flags: Flag[] = [];
  const sorted = [...history].sort(compareKeys);
  let last: string | undefined;
  for (const e of sorted) {
    // The history holds each hash once; equal keys would be the same event.
    if (e.key === last) continue;
    last = e.key;
    const { next, outcome } = foldStep(p, e);
    if (next.cycle > p.cycle) {
      cycleEnds.push(p);
      cycleStarts.push(e.key);
    }
    p = next;
    if (outcome.kind === 'flagged') flags.push(outcome.flag);
  }
  return { projection: p, flags, cycleEnds, cycleStarts };
}

/** One parcel's move in a batch: from what it was (`before`, empty when all of it is new) to what it is. */
export interface ParcelMove {
  before: TrackingProjection;
  after: TrackingProjection;
  /** Nothing of this parcel was known before: every milestone it reached is new. */
  newParcel: boolean;
  /** The parcel after it, when there is one (it bounds whose shipments this one had). */
  next?: TrackingProjection | undefined;
}

/**
 * The moves of every parcel of a number when a batch is folded in one step at a time onto
 * `before` (its events all newer than everything in history): `before`'s own parcel up to
 * where it ended, then each parcel the steps started.
 */
export function movesInOrder(before: TrackingProjection, ends: readonly TrackingProjection[], after: TrackingProjection): ParcelMove[] {
  const states = [...ends, after];
  return states.map((s, i) => ({ before: i === 0 ? before : (states[i - 1] as TrackingProjection), after: s, newParcel: i > 0, next: states[i + 1] }));
}

/**
 * The moves of every parcel of a number when its history was re-folded: each parcel of the
 * new fold against the parcel of the fold without the batch's events that held its newest
 * older event (the last one: `before`, the stored projection), or against nothing when all
 * its events are new. A late batch can add or end parcels before `before`'s own (their
 * shipments must hear of it), renumber them, or move their starts: parcels are matched by
 * the events they hold, never by cycle number or start. Unchanged parcels come back too
 * (the caller keeps only those that moved).
 */
export function movesRefolded(
  before: TrackingProjection,
  prior: { projection: TrackingProjection; cycleEnds: readonly TrackingProjection[]; cycleStarts: readonly string[] },
  folded: { projection: TrackingProjection; cycleEnds: readonly TrackingProjection[]; cycleStarts: readonly string[] },
  keys: readonly string[],
  fresh: ReadonlySet<string>,
): ParcelMove[] {
  const olds = [...prior.cycleEnds, before];
  const news = [...folded.cycleEnds, folded.projection];
  const sorted = [...keys].sort();
  const taken = new Set<number>();
  return news.map((after, j) => {
    const from = j === 0 ? undefined : folded.cycleStarts[j - 1];
    const until = folded.cycleStarts[j];
    let newestOld: string | undefined;
    for (const k of sorted) {
      if ((from !== undefined && k < from) || (until !== undefined && k >= until)) continue;
      if (!fresh.has(k)) newestOld = k;
    }
    // A late end can split one parcel in two (a later label 30+ days after it becomes a new
    // parcel's): the old parcel is the earlier piece's, and the later piece is new.
    const i = newestOld === undefined ? undefined : parcelHolding(prior.cycleStarts, newestOld);
    const was = i === undefined || taken.has(i) ? undefined : olds[i];
    if (i !== undefined) taken.add(i);
    return { before: was ?? emptyProjection(after.trackingNumber, after.carrier), after, newParcel: was === undefined, next: news[j + 1] };
  });
}

/**
 * Which parcel of a re-folded history (0: the first) holds the event with order key `key`:
 * how a state folded before knows its own parcel again. Neither its cycle number nor its
 * first scan's time says it: a late scan of an older parcel adds a boundary before it
 * (renumbering it), and an earlier label of its own moves its start. Its events stay its
 * own. No key (nothing applied yet): the first.
 */
export function parcelHolding(cycleStarts: readonly string[], key: string | null): number {
  if (key === null) return 0;
  let n = 0;
  while (n < cycleStarts.length && (cycleStarts[n] as string) <= key) n++;
  return n;
}

/** Whether events can be folded onto `p` one step at a time (all newer than everything in its history). */
export function isInOrder(p: TrackingProjection, sortedNew: readonly FoldEvent[]): boolean {
  const first = sortedNew[0];
  return first === undefined || p.maxKey === null || first.key > p.maxKey;
}

