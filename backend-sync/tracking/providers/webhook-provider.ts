import type { CanonicalTrackingEvent, TrackingSource } from '../tracking-event.js';

// What a tracking-webhook provider adapter offers the HTTP route: check the signature over the
// raw bytes, then turn the parsed JSON into canonical events. Pure: no I/O, no clock.

export type SignatureCheck = { ok: true } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' };

/** A provider record we could not map (e.g. a status with no canonical meaning), kept for the log. */
export interface SkippedRecord {
  index: number;
  carrierStatus: string;
  reason: string;
}

export type WebhookParse =
  /** A tracking update: one event per tracking detail / checkpoint that maps to a status. */
  | { kind: 'tracking'; eventType: string; trackingNumber: string; events: CanonicalTrackingEvent[]; skipped: SkippedRecord[] }
  /** A well-formed webhook that carries no tracking update (acknowledged so the provider stops retrying). */
  | { kind: 'ignored'; eventType: string }
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
