import type { z } from 'zod';
import { AuditAckMessage, AuditUploadMessage } from './audit-messages.js';
import { CodeAckMessage, CodeBatchMessage, SnapshotRequestMessage } from './code-messages.js';
import { CommandMessage, CommandReplyMessage } from './command-messages.js';
import type { MessageType } from './envelope.js';
import { HealthMessage, PresenceMessage } from './presence-messages.js';
import type { TopicSuffix } from './topics.js';

// The topic catalogue: for every topic, its message schema and the transport facts
// (direction, QoS, retain, size limit, what a receiver does with a duplicate). Publishers,
// receivers, the broker ACL and docs/protocol.md all follow this table;
// protocol-doc.test.ts fails when the document and the table disagree.
// What travels inside an audit upload's records (each record's type and dataJson) has its
// own catalogue: auditEventSchemas in audit-events/audit-event-catalog.ts.

export type Direction = 'locker→backend' | 'backend→locker';

export interface TopicSpec {
  suffix: TopicSuffix;
  type: MessageType;
  schema: z.ZodType;
  direction: Direction;
  qos: 0 | 1;
  retained: boolean;
  /** Payloads above this many bytes are rejected before JSON.parse. */
  maxBytes: number;
  signed: boolean;
  duplicates: string;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const MAX_BATCH_MESSAGE_BYTES = 64 * MiB;

export const topicCatalog = {
  presence: {
    suffix: 'presence', type: 'presence', schema: PresenceMessage, direction: 'locker→backend', qos: 1, retained: true,
    maxBytes: 4 * KiB, signed: false,
    duplicates: 'last value wins (retained); compare bootId and sentAt',
  },
  health: {
    suffix: 'health', type: 'health', schema: HealthMessage, direction: 'locker→backend', qos: 0, retained: false,
    maxBytes: 64 * KiB, signed: false,
    duplicates: 'idempotent snapshot of state; keep the latest by sentAt',
  },
  'codes/batch': {
    suffix: 'codes/batch', type: 'code-batch', schema: CodeBatchMessage, direction: 'backend→locker', qos: 1, retained: false,
    maxBytes: MAX_BATCH_MESSAGE_BYTES, signed: true,
    duplicates: 'versioned: toVersion <= current is stale (nothing changes, re-acked with the current state)',
  },
  'codes/ack': {
    suffix: 'codes/ack', type: 'code-ack', schema: CodeAckMessage, direction: 'locker→backend', qos: 1, retained: false,
    maxBytes: 4 * KiB, signed: false,
    duplicates: 'idempotent: it reports state; the highest state.version wins',
  },
  'codes/snapshot-request': {
    suffix: 'codes/snapshot-request', type: 'snapshot-request', schema: SnapshotRequestMessage, direction: 'locker→backend', qos: 1,
    retained: false, maxBytes: 4 * KiB, signed: false,
    duplicates: 'backend may coalesce requests per locker; a snapshot is idempotent',
  },
  'audit/upload': {
    suffix: 'audit/upload', type: 'audit-upload', schema: AuditUploadMessage, direction: 'locker→backend', qos: 1, retained: false,
    maxBytes: 4 * MiB, signed: false,
    duplicates: 'backend dedupes by (lockerId, dbEpoch, seq); a record with a known seq and another hash is a conflict: kept aside, alerted, never acked',
  },
  'audit/ack': {
    suffix: 'audit/ack', type: 'audit-ack', schema: AuditAckMessage, direction: 'backend→locker', qos: 1, retained: false,
    maxBytes: 8 * KiB, signed: true,
    duplicates: 'idempotent: acknowledging acked records changes nothing',
  },
  cmd: {
    suffix: 'cmd', type: 'command', schema: CommandMessage, direction: 'backend→locker', qos: 1, retained: false,
    maxBytes: 8 * KiB, signed: true,
    duplicates: 'by transactionId: executed at most once; a repeat gets the stored reply again',
  },
  'cmd/reply': {
    suffix: 'cmd/reply', type: 'command-reply', schema: CommandReplyMessage, direction: 'locker→backend', qos: 1, retained: false,
    maxBytes: 16 * KiB, signed: false,
    duplicates: 'by transactionId: the same reply (same message id) may arrive more than once',
  },
} as const satisfies Record<TopicSuffix, TopicSpec>;

export type TopicCatalog = typeof topicCatalog;
/** The message type carried on a topic, inferred from the catalogue's schema. */
export type MessageOn<S extends TopicSuffix> = z.infer<TopicCatalog[S]['schema']>;
