import type { Logger } from '../shared/logger.js';
import type { AuditRecordRow } from '../store/records.js';

// When a locker event happened. A record the device could only write late (its disk was
// full) keeps `at` = its write time, so the chain's `at` never goes back, and carries the
// event's own time as `occurredAt` (docs/protocol.md). The backend dates such a deposit or
// pickup by `occurredAt`, but only within what a late write can mean: an event cannot have
// happened after its own record was written, and the device holds late writes in memory
// only (a restart loses them), so one weeks older than its record is a bug or a bad clock,
// not an outage. Either is not trusted: the record's `at`, a time the device did vouch
// for, is used instead, and the rejection is logged (once: a record is mapped once).

/** Oldest an `occurredAt` may be, before its record's `at`, and still be believed. */
export const MAX_OCCURRED_AT_LAG_MS = 30 * 24 * 3_600_000;

export type OccurredAtRejection = 'after-record' | 'too-old';

/** Why `occurredAt` cannot be believed for a record written at `at`; undefined when it can. */
export function occurredAtRejection(at: number, occurredAt: number): OccurredAtRejection | undefined {
  if (occurredAt > at) return 'after-record';
  if (at - occurredAt > MAX_OCCURRED_AT_LAG_MS) return 'too-old';
  return undefined;
}

/** The time record `r` (data already parsed by its contract schema) says its event happened. */
export function eventTime(r: AuditRecordRow, data: { occurredAt?: number | undefined }, log: Logger): number {
  const { occurredAt } = data;
  if (occurredAt === undefined) return r.at;
  const rejected = occurredAtRejection(r.at, occurredAt);
  if (rejected === undefined) return occurredAt;
  log.warn({ lockerId: r.lockerId, epoch: r.epoch, seq: r.seq, type: r.type, at: r.at, occurredAt, reason: rejected, maxLagMs: MAX_OCCURRED_AT_LAG_MS }, 'audit.occurred_at_rejected');
  return r.at;
}
