import { createHash } from 'node:crypto';
import type { CanonicalTrackingEvent } from '../tracking-event.js';
import { tieBreakRank } from './status-rules.js';

// What makes two events "the same scan", and where an event sits in a timeline. Pure.
//
// The normalised hash covers the event's content and leaves out identifiers a replay may
// change (the carrier's event id) and everything the intake stamps (source, receive time,
// payload): a provider replaying a day of events with fresh ids is still recognised, and a
// scan that arrives by webhook and by polling enters history once.

const HASH_FIELDS = ['trackingNumber', 'carrier', 'status', 'carrierStatus', 'carrierReason', 'eventTime', 'location', 'estimatedDeliveryAt', 'lockerId', 'compartmentId'] as const;

export function normalisedHash(e: CanonicalTrackingEvent): string {
  const parts: unknown[] = HASH_FIELDS.map((f) => {
    const v = e[f];
    if (f === 'location' && v !== undefined && typeof v === 'object') {
      const l = v;
      // Fixed key order: two sources spelling the same location differently ordered agree.
      return [l.facility ?? null, l.city ?? null, l.country ?? null, l.lat ?? null, l.lng ?? null];
    }
    return v ?? null;
  });
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}

/**
 * The event's place in its timeline as a string that sorts like (eventTime, tie rank,
 * hash): the fold's order, the same whatever order events arrived in.
 */
export function orderKey(e: Pick<CanonicalTrackingEvent, 'eventTime' | 'status'>, hash: string): string {
  return `${String(e.eventTime).padStart(15, '0')}.${String(tieBreakRank(e.status)).padStart(2, '0')}.${hash}`;
}

export interface DedupeKeys {
  /** Keys that, if any exists already, make the event a duplicate. */
  check: string[];
  /** Keys recorded for an accepted event. */
  record: string[];
}

/**
 * The first two dedupe levels as keys of tracking_dedupe: the carrier's event id; the
 * composite (carrier, tracking number, status, event time within ±skew), as a bucket of
 * width `skewMs` checked with its two neighbours. The third level, the normalised hash, is
 * the history's own unique column (no second copy of every hash, and it never expires).
 */
export function dedupeKeys(e: CanonicalTrackingEvent, skewMs: number): DedupeKeys {
  const bucket = Math.floor(e.eventTime / skewMs);
  const composite = (b: number): string => `c:${e.carrier}:${e.trackingNumber}:${e.status}:${String(b)}`;
  const own = [composite(bucket)];
  if (e.carrierEventId !== undefined) own.unshift(`id:${e.carrier}:${e.carrierEventId}`);
  return { check: [...own, composite(bucket - 1), composite(bucket + 1)], record: own };
}

export type DedupeLevel = 'carrier_event_id' | 'composite' | 'payload_hash';

export function dedupeLevelOf(key: string): DedupeLevel {
  return key.startsWith('id:') ? 'carrier_event_id' : 'composite';
}
