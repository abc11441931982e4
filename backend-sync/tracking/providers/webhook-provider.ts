import type { CanonicalTrackingEvent, TrackingSource } from '../tracking-event.js';

// What a tracking-webhook provider adapter offers the HTTP route: check the signature over the
// raw bytes, then turn the parsed JSON into canonical events. Pure: no I/O, no clock.

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' };

/**
 * A provider record left out of the events: one with no canonical meaning (a status that is
 * no scan; kept for the log), or one that cannot be read (a time that is no time, a field
 * past its limit; the payload is dead-lettered for it, and the payload's other records are
 * still taken: providers resend every record on each update, so refusing the whole payload
 * for one bad record would refuse that parcel's every later scan too).
 */
export interface SkippedRecord {
  index: number;
  carrierStatus: string;
  kind: 'unmapped' | 'unreadable';
  reason: string;
}

export type WebhookParse =
  /** A tracking update: one event per tracking detail / checkpoint that maps to a status. */
  | { kind: 'tracking'; eventType: string; trackingNumber: string; events: CanonicalTrackingEvent[]; skipped: SkippedRecord[] }
  /**
   * A revised delivery promise with no scan of its own (AfterShip edd_revise): it revises the
   * promise of the scan the number's state rests on (tracking/promise-revise.ts). `revisedAt`
   * is when the provider says it was made, when it says so (orders revisions sent out of order).
   */
  | { kind: 'promise'; eventType: string; trackingNumber: string; estimatedDeliveryAt: number; revisedAt?: number | undefined }
  /** A well-formed webhook that carries no tracking update (acknowledged so the provider stops retrying). */
  | { kind: 'ignored'; eventType: string; reason?: string | undefined }
  | { kind: 'malformed'; reason: string };

export interface WebhookProvider {
  readonly source: Extract<TrackingSource, 'easypost' | 'aftership'>;
  /** Lower-case header name carrying the signature. */
  readonly signatureHeader: string;
  verifySignature(rawBody: Buffer, header: string | undefined, secret: string): SignatureCheck;
  parse(json: unknown): WebhookParse;
}

/** zod issues as one line: what an operator reads in the dead-letter table and the 400 body. */
export function issuesText(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/** Cut free text from a provider to the canonical field's limit instead of refusing the payload. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max);
}
