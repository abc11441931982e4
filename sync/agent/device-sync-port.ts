import type { AuditEventData, AuditEventType } from '@locker/contract/audit-events/index.js';
import type { AuditLane, AuditRecord } from '@locker/contract/audit/audit-record.js';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import type { CodeSetState } from '@locker/contract/codes/code-set-state.js';

export type { AuditLane, AuditRecord, CodeSetState };

// What the sync agent may ask of the device: the agent owns this port and the device
// implements it, so the agent package depends on the contract only. The device runtime implements it on
// top of its SQLite store; the sync agent depends on this interface only, never on the
// store's tables. Every method is synchronous and transactional: when it returns, the
// change is durable (synchronous=FULL) or nothing changed.

export type BatchApplyResult =
  /** Applied in one transaction; the device now holds `state`. */
  | { outcome: 'applied'; state: CodeSetState }
  /** toVersion <= current version: a duplicate or a rollback. Nothing changed. */
  | { outcome: 'stale'; state: CodeSetState }
  /** A delta whose fromVersion is not the current version. Nothing changed; ask for a snapshot. */
  | { outcome: 'gap'; state: CodeSetState }
  /** Content invalid for this locker (wrong locker id, duplicate ids…). Nothing changed. */
  | { outcome: 'rejected'; reason: string; state: CodeSetState };

export interface DeviceSyncPort {
  readonly lockerId: string;
  /**
   * The database epoch (docs/decisions/0023): announced in presence and audit uploads;
   * commands and audit acks naming another epoch are refused.
   */
  readonly dbEpoch: string;
  /**
   * The database is a restored copy (the backend holds records of this epoch it never
   * wrote): takes a fresh epoch, audited, and returns it. Unacknowledged records are then
   * uploaded under the new epoch.
   */
  renewDbEpoch(evidence: { reason: string; conflictAt: number }): string;
  codeSetState(): CodeSetState;
  /** Verifies nothing cryptographic (the caller checked the signed manifest); checks versions and content, then applies. */
  applyCodeBatch(batch: CodeBatch): BatchApplyResult;
  /**
   * The same, without holding the event loop for the whole batch (decision 0025): what the
   * sync agent calls, so key presses are served while a large batch is written.
   */
  applyCodeBatchInSlices(batch: CodeBatch): Promise<BatchApplyResult>;
  /** Highest audit sequence written so far (0 when empty). */
  auditHighWatermark(): number;
  /** The hash of the audit record at `seq`, while the log still holds it (an ack's `contiguousHash` is checked against it). */
  auditHashAt(seq: number): string | undefined;
  /** Highest sequence the backend has acknowledged contiguously (0 when none). */
  auditAckedWatermark(): number;
  /** Records not yet acknowledged, in sequence order, from one lane, after `afterSeq`. */
  readUnackedAudit(options: { lane: AuditLane; afterSeq: number; limit: number }): AuditRecord[];
  /**
   * The backend stored every record up to `contiguousSeq` and the listed `alsoSeqs`.
   * Marks them acknowledged (idempotent; a lower value than already acked changes nothing).
   */
  acknowledgeAudit(ack: { contiguousSeq: number; alsoSeqs: readonly number[] }): void;
  /** Deletes acknowledged records older than the retention; returns how many. */
  pruneAcknowledgedAudit(olderThanMs: number): number;
  /** A backend-signed issue time: raises the device's trusted-time floor, never lowers it. */
  observeTrustedTime(epochMs: number, source: string): void;
  /** Appends an audit record on the sync agent's behalf (batch rejected, command executed…). */
  appendAudit<T extends AuditEventType>(type: T, lane: AuditLane, data: AuditEventData<T>): AuditRecord;
  /** Durably counts one security rejection the per-minute limit kept out of the audit log. */
  countSuppressedRejection(): void;
  /** appendAudit of sync.message-rejected plus, in the same transaction, the suppressed count as `suppressedBefore` (then reset). */
  appendRejectionAudit(lane: AuditLane, data: AuditEventData<'sync.message-rejected'>): AuditRecord;
  /** The stored reply of a command already executed, by transaction id. */
  findCommandReply(transactionId: string): StoredCommandReply | undefined;
  /**
   * Records that a command is about to execute (before any side effect), so a crash in the
   * middle leaves a trace: on restart such a command is reported with outcome 'unknown'.
   */
  beginCommand(transactionId: string, kind: string, expiresAt: number): void;
  /** Stores the reply of a command (before it is published). */
  completeCommand(transactionId: string, replyJson: string): void;
  /** Commands begun but never completed (the process died in between). */
  unfinishedCommands(): Array<{ transactionId: string; kind: string; startedAt: number }>;
  /**
   * Opens one compartment on the backend's signed order; never pulses twice for one
   * transaction. Always settles: rejects with an error whose `code` is 'DB_WRITE_FAILED'
   * when the device's storage refuses to record the open (a full disk; nothing was
   * pulsed), and reports a door that moved even when its own record must wait for space.
   */
  remoteOpen(transactionId: string, compartmentId: string, reason: string): Promise<RemoteOpenOutcome>;
  /**
   * Takes a compartment out of service or returns it to service on the backend's signed
   * order (audited, priority lane). Returning to service clears the failure count and
   * yields 'occupied' instead of 'free' when a live parcel is inside. Idempotent.
   */
  setCompartmentService(transactionId: string, compartmentId: string, inService: boolean, reason: string): CompartmentServiceOutcome;
  /** Health summary for the presence/health messages. */
  health(): DeviceHealth;
}

export interface StoredCommandReply {
  transactionId: string;
  kind: string;
  /** undefined while the command has begun but not completed. */
  replyJson: string | undefined;
  startedAt: number;
}

export type RemoteOpenOutcome =
  | { outcome: 'opened' }
  | { outcome: 'already-open' }
  | { outcome: 'jammed' }
  | { outcome: 'unknown-compartment' }
  | { outcome: 'out-of-service' }
  | { outcome: 'busy' }
  /**
   * A repeat of a transaction whose first attempt was cut short by a restart (the journal
   * entry was written, the outcome never learnt), or whose door sensor could not tell.
   * Never pulsed again: someone has to look.
   */
  | { outcome: 'unknown' };

export type CompartmentServiceOutcome =
  /** The status changed (or, back in service, the failure count was cleared). */
  | { outcome: 'changed'; status: 'free' | 'occupied' | 'out-of-service' }
  | { outcome: 'unchanged'; status: 'free' | 'occupied' | 'out-of-service' }
  | { outcome: 'unknown-compartment' };

export interface DeviceHealth {
  compartments: Array<{ id: string; status: 'ok' | 'occupied' | 'out-of-service'; door: 'open' | 'closed' | 'unknown' }>;
  lockout: { active: boolean; until?: number; failures: number };
  liveCodes: number;
  auditBacklog: number;
  clockFloor: number;
  // Optional figures (issue 8; see DeviceHealthWire): a port that cannot tell leaves them out.
  codeSetVersion?: number;
  awaitingDeposit?: number;
  rejectionAuditsSuppressed?: number;
  /** Keypad lockouts begun since boot. */
  lockouts?: number;
  /** Door failures since boot, by kind. */
  doorFailures?: { jammed: number; 'relay-fault': number; 'sensor-unknown': number };
  /**
   * `writable` false: the database refuses writes (disk full); `writeFailures` since boot;
   * `reserveReleased` true: the storage reserve was given up, the card is nearly full
   * (absent without a reserve).
   */
  storage?: { writable: boolean; writeFailures: number; reserveReleased?: boolean };
}
