import { tieBreakRank } from './status-rules.js';
import type { RecentEntry, TrackingProjection } from './tracking-fold.js';

// When a customer hears of trouble with a parcel. Pure.
//
// Told when the parcel is stuck now and was not as far as anyone knew before the batch:
// the status turns to exception, or it stays in exception but the batch holds a recovery
// newer than everything applied before (recovered and stuck again within one poll). Not
// told for more scans of the same trouble, nor for an earlier scan of it arriving late,
// nor for trouble the parcel had already recovered from when its scans arrived (already
// over: not news). Nothing is stored for it: the projection stays the fold of its history
// (rebuild compares them), and "once" is the outbox's dedupe key, named after when the
// trouble began (the oldest scan of the exception run the parcel is in), so a batch run
// twice (a retry, another instance) tells nothing new. The run is read from the ten
// newest events the projection keeps (flagged ones included): a recovery followed by ten
// or more newer scans in one payload is not seen, and a run longer than that is named
// after its oldest scan still in view.

export interface ExceptionNotice {
  key: string;
  /** When the trouble began: the oldest scan of the exception run the parcel is in. */
  since: number;
  /** The newest exception scan. */
  lastScanAt: number;
}

/** Whether `r` comes after an exception scan at `stuckAt` in the fold's order (equal times: by tie rank). */
function newerThanStuck(r: RecentEntry, stuckAt: number): boolean {
  return r.eventTime > stuckAt || (r.eventTime === stuckAt && tieBreakRank(r.status) > tieBreakRank('exception'));
}

/** Applied entries, newest first. */
const applied = (recent: readonly RecentEntry[]): RecentEntry[] => recent.filter((r) => !r.flagged);

export function exceptionNotice(before: TrackingProjection, after: TrackingProjection): ExceptionNotice | undefined {
  if (after.status !== 'exception' || after.lastEventTime === null) return undefined;
  const entries = applied(after.recent);
  const recoveryAt = entries.findIndex((r) => r.status !== 'exception');
  if (before.status === 'exception') {
    const recovery = entries[recoveryAt];
    if (recovery === undefined || before.lastEventTime === null || !newerThanStuck(recovery, before.lastEventTime)) return undefined;
  }
  const run = recoveryAt === -1 ? entries : entries.slice(0, recoveryAt);
  const since = run.at(-1)?.eventTime ?? after.lastEventTime;
  return { key: `tracking.exception:${after.trackingNumber}:${String(since)}`, since, lastScanAt: after.lastEventTime };
}
