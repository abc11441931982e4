import { z } from 'zod';
import { CanonicalTrackingEvent, TrackingNumber, type TrackingLocation } from '../tracking-event.js';
import { aftershipCanonicalStatus } from './aftership-status-map.js';
import { readWallClock, type TimeParse } from './provider-time.js';

const DAY_MS = 86_400_000;
import { hmacSha256, safeEqual } from './webhook-signature.js';
import { clip, issuesText, type SignatureCheck, type SkippedRecord, type WebhookParse, type WebhookProvider } from './webhook-provider.js';

// AfterShip Tracking webhooks: {ts, event, event_id, is_tracking_first_tag, msg}; for
// `tracking_update` the msg is the Tracking object with every checkpoint so far, each of
// which becomes one canonical event (the core drops the ones it already has).
// Sources: Webhook specifications https://www.aftership.com/docs/tracking/webhook/webhook-specifications,
// Tracking and Checkpoint models https://www.aftership.com/docs/tracking/model/tracking,
// https://www.aftership.com/docs/tracking/model/checkpoint. A checkpoint's `hash` (API
// 2026-07: "a unique hash identifier for each checkpoint event, which can be used for
// deduplication") is its carrierEventId when sent; older versions have none (event_id names
// the delivery of the webhook, not a scan).
// checkpoint_time is the checkpoint's local time: "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, or
// YYYY-MM-DDTHH:MM:SS+TIMEZONE". Without a zone it borrows the offset of the last checkpoint
// before it in the list, in the same country, that names one, else reads UTC; a date alone
// is the start of that local day. A checkpoint's instant depends on nothing after it in the
// list, so a later resend (new checkpoints come after) cannot move it. Bounds tried and
// withdrawn, each broken by a review: its created_at (checkpoints recorded together fell on
// one instant; a date-only pickup landed after the day's timed scans), one offset inferred
// from a country's checkpoints or borrowed from one after it (instants moved between
// resends), and the instant of the checkpoint before it (one of the same status fell on it
// and the composite dedupe dropped it). Left: a zone nothing in the payload names is read as
// UTC, so across a border such a checkpoint can sort before the one listed before it (the
// fold flags it for review), and two date-only checkpoints of one status on one day are one
// scan to the composite dedupe.
// The courier's promise (expected_delivery, or courier_estimated_delivery_date) is read the
// same way at the destination: its own offset, else the last one a checkpoint in the
// destination country names, else the last any checkpoint names, else UTC; a date alone is
// the end of that local day.
// Field names differ between API versions: older ones send country_iso3 / country_name /
// coordinates [lat, lng] / expected_delivery, newer ones country_region / country_region_name /
// coordinate {latitude, longitude} / courier_estimated_delivery_date; both are read.
//
// edd_revise ("Estimated delivery date (EDD)" in the webhook specifications' event table,
// API 2025-01 and later: https://www.aftership.com/docs/tracking/2025-01/webhook/webhook-specifications)
// carries the same envelope, and its msg is the same Tracking object. The EDD fields of that
// object (Tracking model, https://www.aftership.com/docs/tracking/model/tracking, and the
// 2023-03 field changes, https://support.aftership.com/en/article/learn-about-new-changes-to-aftership-tracking-api-webhook-and-csv-1hknln1/):
//   expected_delivery                  string|null, the courier's EDD only (since 2023-03)
//   courier_estimated_delivery_date    {estimated_delivery_date, estimated_delivery_date_min, estimated_delivery_date_max}
//   aftership_estimated_delivery_date  AfterShip's AI prediction (same three dates, plus a confidence)
//   custom_estimated_delivery_date     the merchant's rule {type, datetime, datetime_min, datetime_max}
//   first_estimated_delivery           {type, source, datetime, datetime_min, datetime_max}
//   latest_estimated_delivery          the same plus revise_reason (AfterShip's pick among the sources)
// We read the courier's promise from an edd_revise exactly as from a tracking_update (the
// canonical estimatedDeliveryAt is the carrier's promise): were the two read differently, a
// tracking_update resend and an edd_revise would flip the ETA between sources. An edd_revise
// whose courier promise is absent (one AfterShip sent for its own prediction) revises nothing.
// Its checkpoints, when any, are left to the tracking_update that brings them; `ts` (when
// AfterShip made the revision) orders revisions that arrive out of order.
//
// Signature (https://www.aftership.com/docs/tracking/webhook/webhook-signature): header
// aftership-hmac-sha256 = base64 HMAC-SHA256 of the raw body keyed with the webhook secret.

const text = z.string().nullish();

const CheckpointPayload = z.looseObject({
  checkpoint_time: z.string().min(1),
  tag: z.string().min(1),
  subtag: text,
  subtag_message: text,
  message: text,
  location: text,
  city: text,
  state: text,
  zip: text,
  country_iso3: text,
  country_name: text,
  country_region: text,
  country_region_name: text,
  coordinates: z.array(z.number()).nullish(),
  coordinate: z.looseObject({ latitude: z.number().nullish(), longitude: z.number().nullish() }).nullish(),
  slug: text,
  hash: text,
});

const TrackingPayload = z.looseObject({
  id: z.string().optional(),
  tracking_number: z.string().min(1),
  slug: z.string().min(1),
  tag: z.string().min(1),
  subtag: text,
  expected_delivery: text,
  destination_country_iso3: text,
  destination_country_region: text,
  courier_estimated_delivery_date: z.looseObject({ estimated_delivery_date: text }).nullish(),
  checkpoints: z.array(CheckpointPayload).max(2000),
});

/** An edd_revise's msg: the Tracking object, read only for its number and promise (checkpoints need not be there). */
const EddRevisePayload = TrackingPayload.extend({ checkpoints: z.array(CheckpointPayload).max(2000).nullish() });

const WebhookEnvelope = z.looseObject({ event: z.string().min(1), event_id: z.string().optional(), ts: z.number().optional(), msg: z.unknown() });

type Checkpoint = z.infer<typeof CheckpointPayload>;

const nonEmpty = (s: string | null | undefined): string | undefined => (s == null || s.trim() === '' ? undefined : s.trim());

function location(c: Checkpoint): TrackingLocation | undefined {
  const out: TrackingLocation = {};
  const facility = nonEmpty(c.location);
  const city = nonEmpty(c.city);
  const country = nonEmpty(c.country_iso3) ?? nonEmpty(c.country_region) ?? nonEmpty(c.country_name) ?? nonEmpty(c.country_region_name);
  if (facility !== undefined) out.facility = clip(facility, 200);
  if (city !== undefined) out.city = clip(city, 120);
  if (country !== undefined) out.country = clip(country, 64);
  const [lat, lng] = c.coordinate != null ? [c.coordinate.latitude, c.coordinate.longitude] : (c.coordinates ?? []);
  if (lat != null && lng != null && Math.abs(lat) <= 90 && Math.abs(lng) <= 180) {
    out.lat = lat;
    out.lng = lng;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

function countryOf(c: Checkpoint): string {
  return (nonEmpty(c.country_iso3) ?? nonEmpty(c.country_region) ?? nonEmpty(c.country_name) ?? nonEmpty(c.country_region_name) ?? '').toUpperCase();
}

/**
 * Per country, the offsets the payload's checkpoints name, with their index in the list
 * (AfterShip's documented payloads list checkpoints oldest first).
 */
type NamedOffsets = Map<string, Array<{ index: number; offsetMs: number }>>;

function namedOffsets(checkpoints: readonly Checkpoint[]): NamedOffsets {
  const named: NamedOffsets = new Map();
  checkpoints.forEach((c, index) => {
    const w = readWallClock(c.checkpoint_time);
    if (!w.ok || w.offsetMs === undefined) return;
    const list = named.get(countryOf(c)) ?? [];
    list.push({ index, offsetMs: w.offsetMs });
    named.set(countryOf(c), list);
  });
  return named;
}

/**
 * The offset a checkpoint without one takes: that of the last checkpoint before it in the
 * same country that names one. Only before it: AfterShip resends the whole list with each
 * update and a new checkpoint is a newer one, listed after, so what lies before a checkpoint
 * is the same in every resend, and so is its instant (one that moved would enter history
 * twice). A list that were ever reordered could still move it.
 */
function borrowedOffset(named: NamedOffsets, c: Checkpoint, index: number): number | undefined {
  let before: number | undefined;
  for (const o of named.get(countryOf(c)) ?? []) {
    if (o.index >= index) break;
    before = o.offsetMs;
  }
  return before;
}

/**
 * A checkpoint's instant (see the header): its own offset, else one borrowed from its country
 * in the payload, else UTC; a date alone is the start of that local day. It depends only on
 * the checkpoint and what is listed before it, so every resend reads the same instant.
 */
function checkpointTime(c: Checkpoint, index: number, named: NamedOffsets): TimeParse {
  const w = readWallClock(c.checkpoint_time);
  if (!w.ok) return w;
  const ms = w.wallMs - (w.offsetMs ?? borrowedOffset(named, c, index) ?? 0);
  if (ms < 0) return { ok: false, reason: `before 1970: ${c.checkpoint_time}` };
  return { ok: true, ms };
}

/**
 * The offset a promise without one is read in: the destination's, as the last checkpoint
 * in the destination country that names one gives it; before the parcel has a named scan
 * there, the last named offset of any checkpoint (the nearest the parcel has come); else
 * UTC. A "by 21 November" promise is the end of that day where the parcel is delivered:
 * read as the end of the UTC day, a customer in Berlin would be told the 22nd.
 */
function destinationOffset(tracking: { destination_country_iso3?: string | null | undefined; destination_country_region?: string | null | undefined }, named: NamedOffsets): number | undefined {
  const destination = (nonEmpty(tracking.destination_country_iso3) ?? nonEmpty(tracking.destination_country_region))?.toUpperCase();
  const there = destination === undefined ? undefined : named.get(destination)?.at(-1);
  if (there !== undefined) return there.offsetMs;
  let last: { index: number; offsetMs: number } | undefined;
  for (const list of named.values()) {
    const o = list.at(-1);
    if (o !== undefined && (last === undefined || o.index > last.index)) last = o;
  }
  return last?.offsetMs;
}

/** A promise: its own offset, else `offsetMs`, else UTC; a date alone is the last millisecond of that local day. */
function promiseTime(text: string, offsetMs: number | undefined): TimeParse {
  const w = readWallClock(text);
  if (!w.ok) return w;
  const ms = (w.dateOnly ? w.wallMs + DAY_MS - 1 : w.wallMs) - (w.offsetMs ?? offsetMs ?? 0);
  if (ms < 0) return { ok: false, reason: `before 1970: ${text}` };
  return { ok: true, ms };
}

type TrackingFields = z.infer<typeof EddRevisePayload>;

/** The courier's promise as the instant it names (none when the tracking carries none). */
function courierPromise(tracking: TrackingFields, named: NamedOffsets): { ok: true; ms: number | undefined } | { ok: false; reason: string } {
  const promised = nonEmpty(tracking.courier_estimated_delivery_date?.estimated_delivery_date) ?? nonEmpty(tracking.expected_delivery);
  if (promised === undefined) return { ok: true, ms: undefined };
  const e = promiseTime(promised, destinationOffset(tracking, named));
  return e.ok ? { ok: true, ms: e.ms } : e;
}

/** An edd_revise: the tracking's number and the courier's promise, as a tracking_update would read it. */
function parseEddRevise(eventType: string, msg: unknown, ts: number | undefined): WebhookParse {
  const t = EddRevisePayload.safeParse(msg);
  if (!t.success) return { kind: 'malformed', reason: `AfterShip ${eventType}: ${issuesText(t.error.issues.map((i) => ({ ...i, path: ['msg', ...i.path] })))}` };
  const number = TrackingNumber.safeParse(t.data.tracking_number);
  if (!number.success) return { kind: 'malformed', reason: `AfterShip ${eventType}: msg.tracking_number: ${number.error.issues[0]?.message ?? 'invalid'}` };
  const promise = courierPromise(t.data, namedOffsets(t.data.checkpoints ?? []));
  if (!promise.ok) return { kind: 'malformed', reason: `AfterShip ${eventType}: msg.expected_delivery: ${promise.reason}` };
  if (promise.ms === undefined) return { kind: 'ignored', eventType, reason: 'no courier promise (courier_estimated_delivery_date, expected_delivery)' };
  // ts is in seconds (webhook specifications); one that is not a sane instant is left out.
  const revisedAt = ts !== undefined && Number.isFinite(ts) && ts > 0 ? Math.round(ts * 1000) : undefined;
  return { kind: 'promise', eventType, trackingNumber: number.data, estimatedDeliveryAt: promise.ms, ...(revisedAt === undefined ? {} : { revisedAt }) };
}

export function parseAftershipWebhook(json: unknown): WebhookParse {
  const env = WebhookEnvelope.safeParse(json);
  if (!env.success) return { kind: 'malformed', reason: `AfterShip webhook: ${issuesText(env.error.issues)}` };
  if (env.data.event === 'edd_revise') return parseEddRevise(env.data.event, env.data.msg, env.data.ts);
  if (env.data.event !== 'tracking_update') return { kind: 'ignored', eventType: env.data.event };
  const t = TrackingPayload.safeParse(env.data.msg);
  if (!t.success) return { kind: 'malformed', reason: `AfterShip tracking: ${issuesText(t.error.issues.map((i) => ({ ...i, path: ['msg', ...i.path] })))}` };
  const tracking = t.data;
  const number = TrackingNumber.safeParse(tracking.tracking_number);
  if (!number.success) return { kind: 'malformed', reason: `AfterShip tracking: msg.tracking_number: ${number.error.issues[0]?.message ?? 'invalid'}` };
  const named = namedOffsets(tracking.checkpoints);
  const promise = courierPromise(tracking, named);
  if (!promise.ok) return { kind: 'malformed', reason: `AfterShip tracking: msg.expected_delivery: ${promise.reason}` };
  const estimate = promise.ms;
  const events: CanonicalTrackingEvent[] = [];
  const skipped: SkippedRecord[] = [];
  for (const [index, c] of tracking.checkpoints.entries()) {
    const carrierStatus = nonEmpty(c.subtag) ?? c.tag;
    const status = aftershipCanonicalStatus(c.tag, c.subtag);
    if (status == null) {
      skipped.push({ index, carrierStatus, kind: 'unmapped', reason: status === undefined ? 'tag not in the AfterShip documentation' : 'tag carries no scan' });
      continue;
    }
    const time = checkpointTime(c, index, named);
    if (!time.ok) {
      skipped.push({ index, carrierStatus, kind: 'unreadable', reason: `msg.checkpoints.${String(index)}.checkpoint_time: ${time.reason}` });
      continue;
    }
    const id = nonEmpty(c.hash);
    const reason = nonEmpty(c.message) ?? nonEmpty(c.subtag_message);
    const loc = location(c);
    const event = CanonicalTrackingEvent.safeParse({
      trackingNumber: number.data,
      carrier: nonEmpty(c.slug) ?? tracking.slug,
      ...(id === undefined ? {} : { carrierEventId: id }),
      status,
      carrierStatus: clip(carrierStatus, 200),
      ...(reason === undefined ? {} : { carrierReason: clip(reason, 500) }),
      eventTime: time.ms,
      ...(loc === undefined ? {} : { location: loc }),
    });
    if (!event.success) {
      skipped.push({ index, carrierStatus, kind: 'unreadable', reason: `msg.checkpoints.${String(index)}: ${issuesText(event.error.issues)}` });
      continue;
    }
    events.push(event.data);
  }
  // The promise is as of the newest checkpoint: it rides on that event only.
  if (estimate !== undefined && events.length > 0) {
    const newest = events.reduce((a, b) => (b.eventTime >= a.eventTime ? b : a));
    newest.estimatedDeliveryAt = estimate;
  }
  return { kind: 'tracking', eventType: env.data.event, trackingNumber: number.data, events, skipped };
}

export function aftershipSignature(rawBody: Buffer, secret: string): string {
  return hmacSha256(secret, rawBody).toString('base64');
}

export function verifyAftershipSignature(rawBody: Buffer, header: string | undefined, secret: string): SignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  if (!/^[A-Za-z0-9+/]{43}=$/.test(header)) return { ok: false, reason: 'malformed' };
  return safeEqual(header, aftershipSignature(rawBody, secret)) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

export const aftershipProvider: WebhookProvider = {
  source: 'aftership',
  signatureHeader: 'aftership-hmac-sha256',
  verifySignature: verifyAftershipSignature,
  parse: parseAftershipWebhook,
};
