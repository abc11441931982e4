import { z } from 'zod';
import type { TrackingStatus } from '../tracking-event.js';
import { appliedScans } from './applied-scans.js';

// Leg times learned from past shipments, per (carrier, status): how long it took from a
// scan in that status to arrival (delivered, or deposited in a locker). Each cell is
// count / mean / M2 (sum of squared deviations, Welford), which is enough for a mean and a
// variance and merges exactly (Chan et al.): stats learned by several instances, or over
// several days, combine in any order and grouping to the same numbers (up to rounding).
// Pure and JSON-shaped, so the store can keep it as one document per carrier (read back
// through LegStatsSchema).
//
// Every scan is a sample, not only the first of each status: the estimator anchors at the
// last scan's time, so the samples must be "from a scan in status X", wherever in X it was.
// But one shipment's scans are not independent evidence (five hub scans of one parcel share
// its one delay), so each cell also counts the shipments behind it: that, not the scan
// count, is how much the cell may be trusted.
//
// Time spent in exception is left out of the legs of the other statuses that span it: one
// parcel held ten days in customs would otherwise add ten days to the in_transit and
// picked_up legs every normal parcel of its carrier is estimated from. The leg is kept, less
// the hold, rather than dropped: the held parcel's moving time is as good a sample as any
// (dropping it would also throw away every leg of a carrier with frequent short holds), and
// the hold is not lost: the exception scans' own legs count it in full, and those are what
// the estimator uses (widened) once a parcel is in exception. So a moving parcel's ETA
// assumes it keeps moving, and a hold shows in its ETA when the carrier reports it.

/** Statuses a shipment can still be travelling in: the ones with a leg to learn. */
export const learnedStatuses = ['label_created', 'picked_up', 'in_transit', 'out_for_delivery', 'exception'] as const satisfies readonly TrackingStatus[];
export type LearnedStatus = (typeof learnedStatuses)[number];

/** Arrival: the end of every leg. A locker parcel arrives when it is deposited. */
const arrivalStatuses: ReadonlySet<TrackingStatus> = new Set<TrackingStatus>(['delivered', 'available_for_pickup']);

export const LegStatSchema = z
  .object({
    count: z.number().int().nonnegative(),
    mean: z.number(),
    m2: z.number().nonnegative(),
    /** Shipments that contributed at least one of the `count` samples. */
    shipments: z.number().int().nonnegative(),
  })
  .strict();
export type LegStat = z.infer<typeof LegStatSchema>;

export const LegStatsSchema = z.record(z.string(), z.partialRecord(z.enum(learnedStatuses), LegStatSchema));
/** carrier → status → stat. */
export type LegStats = Readonly<Record<string, Readonly<Partial<Record<LearnedStatus, LegStat>>>>>;

export const emptyLegStats: LegStats = {};

export function isLearnedStatus(s: TrackingStatus): s is LearnedStatus {
  return (learnedStatuses as readonly TrackingStatus[]).includes(s);
}

export function legStat(stats: LegStats, carrier: string, status: LearnedStatus): LegStat | undefined {
  return stats[carrier]?.[status];
}

/**
 * Sample variance (M2 / (n − 1)); 0 below two samples. The population form (M2 / n) is the
 * spread of the samples about their own mean, which is closer than about the true one: it
 * runs low, most at the small n a carrier starts learning with, and narrows the window.
 */
export function variance(s: LegStat): number {
  return s.count < 2 ? 0 : s.m2 / (s.count - 1);
}

/** One more scan's sample; which shipment it belongs to is counted by the caller (learnLeg). */
export function addSample(s: LegStat | undefined, x: number): LegStat {
  const shipments = s?.shipments ?? 0;
  if (s === undefined || s.count === 0) return { count: 1, mean: x, m2: 0, shipments };
  const count = s.count + 1;
  const delta = x - s.mean;
  const mean = s.mean + delta / count;
  return { count, mean, m2: s.m2 + delta * (x - mean), shipments };
}

/** Exact merge of two cells (parallel-variance formula). */
export function mergeLegStat(a: LegStat | undefined, b: LegStat | undefined): LegStat | undefined {
  if (a === undefined || a.count === 0) return b;
  if (b === undefined || b.count === 0) return a;
  const count = a.count + b.count;
  const delta = b.mean - a.mean;
  return { count, mean: a.mean + (delta * b.count) / count, m2: a.m2 + b.m2 + (delta * delta * a.count * b.count) / count, shipments: a.shipments + b.shipments };
}

export function mergeLegStats(a: LegStats, b: LegStats): LegStats {
  const out: Record<string, Partial<Record<LearnedStatus, LegStat>>> = {};
  for (const carrier of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const cell: Partial<Record<LearnedStatus, LegStat>> = {};
    for (const status of learnedStatuses) {
      const m = mergeLegStat(a[carrier]?.[status], b[carrier]?.[status]);
      if (m !== undefined) cell[status] = m;
    }
    out[carrier] = cell;
  }
  return out;
}

export interface CompletedTimeline {
  carrier: string;
  events: ReadonlyArray<{ status: TrackingStatus; eventTime: number }>;
}

/**
 * Adds one finished shipment's legs: for every applied scan before arrival (the first
 * applied delivered or available_for_pickup event), arrival time − scan time under
 * (carrier, scan status), less any time in exception in between for a scan not itself in
 * exception. Scans the fold flags are left out (applied-scans.ts). A timeline
 * that never arrived (returned, lost, still moving) teaches nothing and leaves the stats as
 * they were. `events` is the parcel's whole history, in any order.
 */
export function learnLeg(stats: LegStats, timeline: CompletedTimeline): LegStats {
  const events = appliedScans(timeline.events);
  let arrival = Infinity;
  for (const e of events) if (arrivalStatuses.has(e.status)) arrival = Math.min(arrival, e.eventTime);
  if (arrival === Infinity) return stats;
  const holds = exceptionSpans(events, arrival);
  const cell: Partial<Record<LearnedStatus, LegStat>> = { ...stats[timeline.carrier] };
  const touched = new Set<LearnedStatus>();
  for (const e of events) {
    if (!isLearnedStatus(e.status) || e.eventTime >= arrival) continue;
    const held = e.status === 'exception' ? 0 : heldBetween(holds, e.eventTime, arrival);
    cell[e.status] = addSample(cell[e.status], arrival - e.eventTime - held);
    touched.add(e.status);
  }
  if (touched.size === 0) return stats;
  for (const status of touched) {
    const c = cell[status] as LegStat;
    cell[status] = { ...c, shipments: c.shipments + 1 };
  }
  return { ...stats, [timeline.carrier]: cell };
}

/** [from, to) intervals the parcel spent in exception before arrival; `applied` is in fold order. */
function exceptionSpans(applied: ReadonlyArray<{ status: TrackingStatus; eventTime: number }>, arrival: number): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let since: number | undefined;
  for (const e of applied) {
    if (e.eventTime >= arrival) break;
    if (e.status === 'exception') since ??= e.eventTime;
    else if (since !== undefined) {
      spans.push([since, e.eventTime]);
      since = undefined;
    }
  }
  // Still in exception when it arrived: the hold lasted until then.
  if (since !== undefined) spans.push([since, arrival]);
  return spans;
}

function heldBetween(spans: ReadonlyArray<[number, number]>, from: number, to: number): number {
  let held = 0;
  for (const [a, b] of spans) held += Math.max(0, Math.min(b, to) - Math.max(a, from));
  return held;
}
