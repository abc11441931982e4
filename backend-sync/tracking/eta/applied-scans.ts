import { tieBreakRank, transitionVerdict } from '../core/status-rules.js';
import type { TrackingStatus } from '../tracking-event.js';

// Legs are learned from the scans the fold applied, never from one it flagged for review: a
// stray picked_up after out_for_delivery is a mis-scan, not a half-hour picked_up leg. The
// fold's verdict depends only on the statuses in its order (event time, then tie rank; its
// hash tiebreak only orders scans of equal time and status, whose verdicts agree), so
// deciding it again over a finished timeline gives the fold's own answer from status and
// time alone: no event bodies to read, no order keys to rebuild. The caller passes one
// parcel's scans (a recycled number cut at its cycle start), as the fold's cycle sees them.
// One rule is left out: once one of our lockers took the parcel in, the fold refuses
// carriers' scans (status-rules.ts, LockerContext). That starts at the deposit, the
// parcel's arrival, so it changes nothing before it, and legs end at the arrival.

export interface Scan {
  status: TrackingStatus;
  eventTime: number;
}

/** The scans the fold applies, in its order. */
export function appliedScans<T extends Scan>(events: readonly T[]): T[] {
  const sorted = [...events].sort((a, b) => a.eventTime - b.eventTime || tieBreakRank(a.status) - tieBreakRank(b.status));
  const applied: T[] = [];
  const reached: TrackingStatus[] = [];
  let status: TrackingStatus | null = null;
  for (const e of sorted) {
    if (!transitionVerdict(status, e.status, reached).legal) continue;
    applied.push(e);
    status = e.status;
    if (!reached.includes(e.status)) reached.push(e.status);
  }
  return applied;
}
