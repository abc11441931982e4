import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { auditEventSchemas, auditEventTypes, isAuditEventType, parseAuditEvent } from './audit-event-catalog.js';

describe('audit event catalogue', () => {
  it('parses a known event into typed data, ignoring fields its schema does not name', () => {
    const parsed = parseAuditEvent('return.retrieved', JSON.stringify({ compartmentId: 'A1', courierTokenId: 'tok_c', parcelId: 'P1', entries: ['tok_p'], addedLater: 1 }));
    expect(parsed).toEqual({ ok: true, event: { type: 'return.retrieved', data: { compartmentId: 'A1', courierTokenId: 'tok_c', parcelId: 'P1', entries: ['tok_p'] } } });
  });

  it('names the missing field when the data does not match the schema of its type', () => {
    const parsed = parseAuditEvent('return.retrieved', JSON.stringify({ compartmentId: 'A1', courierTokenId: 'tok_c', parcels: ['P1'], entries: [] }));
    expect(parsed).toMatchObject({ ok: false, reason: 'invalid-data' });
    expect(parsed.ok ? '' : parsed.detail).toContain('parcelId');
  });

  it('tells an unknown type and data that is not JSON apart from invalid data', () => {
    expect(parseAuditEvent('diagnostics.dump', '{}')).toMatchObject({ ok: false, reason: 'unknown-type' });
    expect(parseAuditEvent('device.stopped', '{not json')).toMatchObject({ ok: false, reason: 'invalid-json' });
    expect(parseAuditEvent('toString', '{}')).toMatchObject({ ok: false, reason: 'unknown-type' });
    expect(isAuditEventType('__proto__')).toBe(false);
  });

  it('has dotted lower-case type names of at most 64 characters (the device log limit)', () => {
    expect(auditEventTypes.length).toBeGreaterThan(40);
    for (const t of auditEventTypes) expect(t).toMatch(/^[a-z-]+\.[a-z-]+$/);
    for (const t of auditEventTypes) expect(t.length).toBeLessThanOrEqual(64);
  });

  // Devices and backends are not upgraded together: a device that adds a field (occurredAt on
  // technician.task) must not have its records refused by the release before. No schema may
  // refuse keys it does not name (.strict() or a catchall would dead-end them in review).
  it('lets every type carry fields its schema does not name, so a newer device passes an older backend', () => {
    for (const t of auditEventTypes) {
      const schema = auditEventSchemas[t];
      expect(schema, t).toBeInstanceOf(z.ZodObject);
      expect(schema.def.catchall, t).toBeUndefined();
    }
    const older = auditEventSchemas['technician.task'].omit({ occurredAt: true });
    const written = { compartmentId: 'M1', task: 'check-compartment', cause: 'open-unknown', outOfService: true, occurredAt: 1_700_000_000_000 };
    expect(older.safeParse(written)).toMatchObject({ success: true });
  });
});
