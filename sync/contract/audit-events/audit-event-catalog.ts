import type { z } from 'zod';
import { deviceEvents } from './device-events.js';
import { doorEvents } from './door-events.js';
import { parcelEvents } from './parcel-events.js';

// The audit event catalogue: one zod schema per audit record type. The device's
// appendAudit takes only these types with data of their schema (checked at compile time
// and again at append); the backend parses every uploaded record's dataJson through the
// same schema before acting on it. docs/protocol.md lists the catalogue and
// protocol-doc.test.ts keeps the two in step.
//
// Schemas are plain z.object: keys they do not know are ignored when parsing, so a device
// that adds a field does not make an older backend refuse its records. Removing or
// renaming a field is a breaking change: add a new event type instead.

export const auditEventSchemas = { ...parcelEvents, ...doorEvents, ...deviceEvents } as const;

export type AuditEventSchemas = typeof auditEventSchemas;
export type AuditEventType = keyof AuditEventSchemas;
/** The data of one event type as the writer builds it (optional fields may be absent). */
export type AuditEventData<T extends AuditEventType> = z.input<AuditEventSchemas[T]>;
/** One event, type and data together: narrowing on `type` narrows `data`. */
export type AuditEvent = { [T in AuditEventType]: { type: T; data: z.output<AuditEventSchemas[T]> } }[AuditEventType];

export const auditEventTypes = Object.keys(auditEventSchemas) as AuditEventType[];

export function isAuditEventType(type: string): type is AuditEventType {
  return Object.hasOwn(auditEventSchemas, type);
}

export type AuditEventParse =
  | { ok: true; event: AuditEvent }
  | { ok: false; reason: 'unknown-type' | 'invalid-json' | 'invalid-data'; detail: string };

/** Validates already-decoded data against its type's schema. */
export function parseAuditEventData(type: string, data: unknown): AuditEventParse {
  if (!isAuditEventType(type)) return { ok: false, reason: 'unknown-type', detail: `no schema for audit type ${JSON.stringify(type.slice(0, 64))}` };
  const parsed = auditEventSchemas[type].safeParse(data);
  if (!parsed.success) {
    const detail = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    return { ok: false, reason: 'invalid-data', detail };
  }
  // The schema for `type` produced `parsed.data`; TypeScript cannot correlate the two.
  return { ok: true, event: { type, data: parsed.data } as AuditEvent };
}

/** Parses a record's dataJson (the exact hashed text) against its type's schema. */
export function parseAuditEvent(type: string, dataJson: string): AuditEventParse {
  let data: unknown;
  try {
    data = JSON.parse(dataJson);
  } catch {
    return { ok: false, reason: 'invalid-json', detail: 'dataJson is not JSON' };
  }
  return parseAuditEventData(type, data);
}
