import { z } from 'zod';

// Field types shared by the audit event schemas. Deliberately plain (bounded strings,
// integers) rather than the device's internal enums: the contract names what is on the
// wire, and a new reason string on the device must not make every backend reject it.

/** Token, parcel, compartment, operation and transaction ids as the device writes them. */
export const AuditId = z.string().min(1).max(128);
/** A short machine-readable reason or kind ("revoked", "door-faulty-reported"…). */
export const AuditReason = z.string().min(1).max(200);
/** Free text a decoder or verifier produced; bounded so one record cannot grow without limit. */
export const AuditDetail = z.string().max(4096);
export const AuditCount = z.number().int().nonnegative();
/** Epoch or duration in ms; durations may come out negative when the clock stepped back. */
export const AuditMs = z.number().int();
/** What the door did when a customer or courier opened it (device/core/door-supervisor.ts DoorEvent). */
export const AuditDoorEvent = z.enum(['opened', 'already-open', 'unverified', 'jammed', 'relay-fault', 'closed']);
export const AuditVia = z.enum(['code', 'qr']);
/**
 * When the event happened, on a record the device could write only later (a full disk:
 * written on recovery). The record's `at` stays the time it was written, so `at` keeps
 * growing with `seq` along the chain; readers that care when it happened take this first.
 */
export const occurredAt = { occurredAt: AuditMs.optional() };
