import { z } from 'zod';
import { CanonicalTrackingEvent, TrackingNumber, type TrackingLocation } from '../tracking-event.js';
import { easypostCanonicalStatus } from './easypost-status-map.js';
import { parseProviderTime } from './provider-time.js';
import { hmacSha256, safeEqual } from './webhook-signature.js';
import { clip, issuesText, type SignatureCheck, type SkippedRecord, type WebhookParse, type WebhookProvider } from './webhook-provider.js';

// EasyPost webhooks: an Event whose `result` is the object that changed. Tracker events
// (`tracker.created`, `tracker.updated`) carry the whole Tracker, every tracking_detail so
// far; each detail becomes one canonical event and the core drops the ones it already has.
// Sources: Event and Webhook objects https://docs.easypost.com/docs/events,
// https://docs.easypost.com/docs/webhooks; Tracker https://docs.easypost.com/docs/trackers.
// TrackingDetail has no id of its own, so no carrierEventId: the core dedupes by key and hash.
//
// Signature (Webhooks guide, "HMAC Validation", and EasyPost's client libraries'
// validate_webhook): header X-Hmac-Signature = "hmac-sha256-hex=" + hex HMAC-SHA256 of the raw
// body, keyed with the webhook secret normalised to Unicode NFKD and encoded as UTF-8.

const nullableText = z.string().nullish();

const TrackingLocationPayload = z.looseObject({ city: nullableText, state: nullableText, country: nullableText, zip: nullableText });

const TrackingDetailPayload = z.looseObject({
  datetime: z.string(),
  message: nullableText,
  description: nullableText,
  status: z.string().min(1),
  status_detail: nullableText,
  tracking_location: TrackingLocationPayload.nullish(),
});

const TrackerPayload = z.looseObject({
  id: z.string().optional(),
  object: z.literal('Tracker'),
  tracking_code: z.string().min(1),
  carrier: z.string().min(1),
  status: z.string().min(1),
  status_detail: nullableText,
  est_delivery_date: nullableText,
  tracking_details: z.array(TrackingDetailPayload).max(2000),
});

/** The Event envelope: only what tells us whether this is a tracker event. */
const EventEnvelope = z.looseObject({ id: z.string().optional(), object: z.literal('Event'), description: z.string().min(1), result: z.unknown() });

const trackerEvents: ReadonlySet<string> = new Set(['tracker.created', 'tracker.updated']);

const nonEmpty = (s: string | null | undefined): string | undefined => (s == null || s.trim() === '' ? undefined : s.trim());

function location(l: z.infer<typeof TrackingLocationPayload> | null | undefined): TrackingLocation | undefined {
  if (l == null) return undefined;
  const out: TrackingLocation = {};
  if (l.city != null && l.city.trim() !== '') out.city = clip(l.city.trim(), 120);
  if (l.country != null && l.country.trim() !== '') out.country = clip(l.country.trim(), 64);
  return Object.keys(out).length === 0 ? undefined : out;
}

export function parseEasypostEvent(json: unknown): WebhookParse {
  const env = EventEnvelope.safeParse(json);
  if (!env.success) return { kind: 'malformed', reason: `EasyPost Event: ${issuesText(env.error.issues)}` };
  if (!trackerEvents.has(env.data.description)) return { kind: 'ignored', eventType: env.data.description };
  const t = TrackerPayload.safeParse(env.data.result);
  if (!t.success) return { kind: 'malformed', reason: `EasyPost Tracker: ${issuesText(t.error.issues.map((i) => ({ ...i, path: ['result', ...i.path] })))}` };
  const tracker = t.data;
  const number = TrackingNumber.safeParse(tracker.tracking_code);
  if (!number.success) return { kind: 'malformed', reason: `EasyPost Tracker: result.tracking_code: ${number.error.issues[0]?.message ?? 'invalid'}` };
  let estimate: number | undefined;
  if (tracker.est_delivery_date != null) {
    const e = parseProviderTime(tracker.est_delivery_date, { dateOnlyAsEndOfDay: true });
    if (!e.ok) return { kind: 'malformed', reason: `EasyPost Tracker: result.est_delivery_date: ${e.reason}` };
    estimate = e.ms;
  }
  const events: CanonicalTrackingEvent[] = [];
  const skipped: SkippedRecord[] = [];
  for (const [index, d] of tracker.tracking_details.entries()) {
    const carrierStatus = d.status_detail == null ? d.status : `${d.status}:${d.status_detail}`;
    const status = easypostCanonicalStatus(d.status, d.status_detail);
    if (status == null) {
      skipped.push({ index, carrierStatus, kind: 'unmapped', reason: status === undefined ? 'status not in the EasyPost documentation' : 'status carries no scan' });
      continue;
    }
    const time = parseProviderTime(d.datetime);
    if (!time.ok) {
      skipped.push({ index, carrierStatus, kind: 'unreadable', reason: `result.tracking_details.${String(index)}.datetime: ${time.reason}` });
      continue;
    }
    const reason = nonEmpty(d.message) ?? nonEmpty(d.description);
    const loc = location(d.tracking_location);
    const event = CanonicalTrackingEvent.safeParse({
      trackingNumber: number.data,
      carrier: tracker.carrier,
      status,
      carrierStatus: clip(carrierStatus, 200),
      ...(reason === undefined ? {} : { carrierReason: clip(reason, 500) }),
      eventTime: time.ms,
      ...(loc === undefined ? {} : { location: loc }),
    });
    if (!event.success) {
      skipped.push({ index, carrierStatus, kind: 'unreadable', reason: `result.tracking_details.${String(index)}: ${issuesText(event.error.issues)}` });
      continue;
    }
    events.push(event.data);
  }
  // The tracker's estimate is as of its newest scan: it rides on that event only.
  if (estimate !== undefined && events.length > 0) {
    const newest = events.reduce((a, b) => (b.eventTime >= a.eventTime ? b : a));
    newest.estimatedDeliveryAt = estimate;
  }
  return { kind: 'tracking', eventType: env.data.description, trackingNumber: number.data, events, skipped };
}

const PREFIX = 'hmac-sha256-hex=';

export function easypostSignature(rawBody: Buffer, secret: string): string {
  return PREFIX + hmacSha256(Buffer.from(secret.normalize('NFKD'), 'utf8'), rawBody).toString('hex');
}

export function verifyEasypostSignature(rawBody: Buffer, header: string | undefined, secret: string): SignatureCheck {
  if (header === undefined || header === '') return { ok: false, reason: 'missing' };
  if (!header.startsWith(PREFIX) || !/^[0-9a-f]{64}$/i.test(header.slice(PREFIX.length))) return { ok: false, reason: 'malformed' };
  const sent = PREFIX + header.slice(PREFIX.length).toLowerCase();
  return safeEqual(sent, easypostSignature(rawBody, secret)) ? { ok: true } : { ok: false, reason: 'mismatch' };
}

export const easypostProvider: WebhookProvider = {
  source: 'easypost',
  signatureHeader: 'x-hmac-signature',
  verifySignature: verifyEasypostSignature,
  parse: parseEasypostEvent,
};
