import { randomUUID } from 'node:crypto';
import { z } from 'zod';

// Every message on the wire is one JSON object with the same four header fields:
//   v       schema major version (integer). A receiver accepts exactly the majors it knows;
//           a higher one is rejected and reported, never guessed at.
//   type    the message type, which must match the topic it arrived on (defence against a
//           sender that publishes the right shape on the wrong topic).
//   id      message id, unique per message (transport dedupe: MQTT QoS 1 may deliver twice).
//   sentAt  sender's wall clock, epoch ms; informational only (never trusted as time).
// Fields added within a major version are optional and ignored by older receivers: known
// objects strip unknown keys instead of rejecting them (see docs/protocol.md, Versioning).

export const SCHEMA_VERSION = 1;

export const MessageId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'message id: 8-64 url-safe characters');
export type MessageId = z.infer<typeof MessageId>;

export const TransactionId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'transaction id: 8-64 url-safe characters');
export type TransactionId = z.infer<typeof TransactionId>;

export const EpochMs = z.number().int().nonnegative().max(8_640_000_000_000_000);

export const messageTypes = [
  'presence',
  'health',
  'code-batch',
  'code-ack',
  'snapshot-request',
  'audit-upload',
  'audit-ack',
  'command',
  'command-reply',
] as const;
export const MessageType = z.enum(messageTypes);
export type MessageType = z.infer<typeof MessageType>;

/**
 * The part of a message every receiver reads first, whatever the version: lenient on
 * purpose (a v2 message may change everything else) so a version mismatch can be reported
 * as such instead of as "invalid schema".
 */
export const EnvelopeHeader = z.object({
  v: z.number().int().positive(),
  type: z.string().max(64),
  id: z.string().max(64).optional(),
});
export type EnvelopeHeader = z.infer<typeof EnvelopeHeader>;

/** The header fields of a version-1 message, shared by every message schema. */
export function envelopeOf<T extends MessageType>(type: T) {
  return {
    v: z.literal(SCHEMA_VERSION),
    type: z.literal(type),
    id: MessageId,
    sentAt: EpochMs,
  };
}

export interface Envelope<T extends MessageType> {
  v: typeof SCHEMA_VERSION;
  type: T;
  id: string;
  sentAt: number;
}

/** A fresh header; `now` is the sender's clock (informational on the wire). */
export function newEnvelope<T extends MessageType>(type: T, now: number, id: string = randomUUID()): Envelope<T> {
  return { v: SCHEMA_VERSION, type, id, sentAt: Math.floor(now) };
}
