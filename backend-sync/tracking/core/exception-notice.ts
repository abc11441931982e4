import { orderKeyParts } from './event-identity.js';
import type { TrackingProjection } from './tracking-fold.js';

// When a customer hears of trouble with a parcel. Pure.
//
// Told when the parcel is stuck now and was not before the batch: the status turns to
// exception. Not told when it stays in exception (more scans of the same trouble, or a
// late scan that moves where the trouble began), nor for an exception the parcel had
// already recovered from by the time its scans arrived (already over: not news). Stuck
// again after a recovery is told again. Nothing is stored for it: the projection stays
// the fold of its history (rebuild compares them), and "once" is the outbox's dedupe key,
// named after the scan the parcel is stuck at, so a batch run twice (a retry, another
// instance) tells nothing new.

export interface ExceptionNotice {
  key: string;
  /** The exception scan the parcel is stuck at: its time and normalised hash. */
  at: number;
  scan: string;
}

export function exceptionNotice(before: TrackingProjection, after: TrackingProjection): ExceptionNotice | undefined {
  if (after.status !== 'exception' || before.status === 'exception' || after.lastAppliedKey === null) return undefined;
  const { eventTime, hash } = orderKeyParts(after.lastAppliedKey);
  return { key: `tracking.exception:${after.trackingNumber}:${hash}`, at: eventTime, scan: hash };
}
