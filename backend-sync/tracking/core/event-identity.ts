import { hash } from 'node:crypto';
import type { CanonicalTrackingEvent } from '../tracking-event.js';
import { tieBreakRank } from './status-rules.js';

// What makes two events "the same scan", and where an event sits in a timeline. Pure.
//
// The normalised hash covers the event's content and leaves out identifiers a replay may
// change (the carrier's event id) and everything the intake stamps (source, receive time,
// payload): a provider replaying a day of events with fresh ids is still recognised, and a
// scan that arrives by webhook and by polling enters history once. The carrier's promise is
// no part of the scan: providers put it on the newest scan of each update only, so the same
// scan resent once a newer one exists came with another hash, and past the composite
// level's window it entered history twice. (Rows hashed before this keep their old hash: an
// old scan that carried a promise can enter once more if it is resent after that window.)

const HASH_FIELDS = ['trackingNumber', 'carrier', 'status', 'carrierStatus', 'carrierReason', 'eventTime', 'location', 'lockerId', 'compartmentId'] as const;

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
  // One-shot digest: no Hash object per event (the applier hashes every event it sees).
  return hash('sha256', JSON.stringify(parts), 'hex').slice(0, 32);
}

// A carrier's revised promise that came on a scan history already holds (providers resend
// every scan with each update, the promise on the newest): the scan is a duplicate, the
// promise is news. It enters history as its own row, keyed right after that scan and, among
// revisions of one scan, by receive time (the carrier's latest word last); the fold takes
// the promise alone from it (core/tracking-fold.ts), so the rebuild agrees.
const REVISION_MARK = '~p';

export function promiseRevisionHash(scanHash: string, receivedAt: number, promise: number): string {
  return `${scanHash}${REVISION_MARK}${String(receivedAt).padStart(15, '0')}.${String(promise)}`;
}

export function isPromiseRevision(hash: string): boolean {
  return hash.includes(REVISION_MARK);
}

/** The hash of the scan a revision revises. */
export function revisedScanHash(revisionHash: string): string {
  return revisionHash.slice(0, revisionHash.indexOf(REVISION_MARK));
}

/**
 * The event's place in its timeline as a string that sorts like (eventTime, tie rank,
 * hash): the fold's order, the same whatever order events arrived in.
 */
export function orderKey(e: Pick<CanonicalTrackingEvent, 'eventTime' | 'status'>, hash: string): string {
  return `${String(e.eventTime).padStart(15, '0')}.${String(tieBreakRank(e.status)).padStart(2, '0')}.${hash}`;
}

/** The hash an order key was made with (the part after time and tie rank). */
export function hashOfOrderKey(key: string): string {
  return key.slice(key.indexOf('.', key.indexOf('.') + 1) + 1);
}

/**
 * The first dedupe level as a key of tracking_dedupe: the carrier's event id (global per
 * carrier: a carrier reusing an id under another number is still the same scan).
 */
export function carrierEventKey(e: CanonicalTrackingEvent): string | undefined {
  return e.carrierEventId === undefined ? undefined : `id:${e.carrier}:${e.carrierEventId}`;
}

/**
 * The second level: an event of the same number and status whose time lies within ±skew
 * is the same scan. Checked as one range lookup on the history's (tracking_number,
 * event_time) index, among events received since the retention cut-off; the number's
 * projection row is locked while this runs, so two instances cannot both miss each other.
 */
export interface CompositeProbe {
  trackingNumber: string;
  status: CanonicalTrackingEvent['status'];
  from: number;
  to: number;
}

export function compositeProbe(e: CanonicalTrackingEvent, skewMs: number): CompositeProbe {
  return { trackingNumber: e.trackingNumber, status: e.status, from: e.eventTime - skewMs, to: e.eventTime + skewMs };
}

export type DedupeLevel = 'carrier_event_id' | 'composite' | 'payload_hash';
