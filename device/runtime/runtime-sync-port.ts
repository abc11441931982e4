import type { AuditEventData, AuditEventType } from '@locker/contract/audit-events/index.js';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import type { RuntimeStore } from '../store/runtime-store.js';
import type { AuditLane, AuditRecord, BatchApplyResult, CodeSetState, CompartmentServiceOutcome, DeviceHealth, DeviceSyncPort, RemoteOpenOutcome, StoredCommandReply } from '@locker/sync-agent/device-sync-port.js';

// DeviceSyncPort for the sync agent, in the same process as the runtime and on the same
// SQLite connection (docs/decisions/0004). Everything delegates to the store except what
// needs the runtime: remote opens (through the same journal and door supervision), the
// trusted-time floor, the keyring reload after a batch, and health.

export interface RuntimeHooks {
  observeTrustedTime(epochMs: number, source: string): void;
  /** After an applied batch; the keyring must be rebuilt before the next verification. */
  batchApplied(keyringChanged: boolean): void;
  remoteOpen(transactionId: string, compartmentId: string, reason: string): Promise<RemoteOpenOutcome>;
  setCompartmentService(compartmentId: string, inService: boolean, by: string, details: { reason: string; transactionId: string }): CompartmentServiceOutcome;
  health(): DeviceHealth;
}

export class RuntimeSyncPort implements DeviceSyncPort {
  readonly lockerId: string;

  constructor(
    private readonly store: RuntimeStore,
    private readonly runtime: RuntimeHooks,
  ) {
    this.lockerId = store.lockerId;
  }

  /** Read from the store each time: it changes when the database renews its epoch. */
  get dbEpoch(): string {
    return this.store.dbEpoch;
  }

  renewDbEpoch(evidence: { reason: string; conflictAt: number }): string {
    return this.store.renewDbEpoch(evidence);
  }

  codeSetState(): CodeSetState {
    return this.store.codeSetState();
  }

  applyCodeBatch(batch: CodeBatch): BatchApplyResult {
    const result = this.store.applyCodeBatch(batch);
    if (result.outcome === 'applied') this.runtime.batchApplied(batch.keyring.length > 0);
    return result;
  }

  async applyCodeBatchInSlices(batch: CodeBatch): Promise<BatchApplyResult> {
    const result = await this.store.applyCodeBatchInSlices(batch);
    if (result.outcome === 'applied') this.runtime.batchApplied(batch.keyring.length > 0);
    return result;
  }

  auditHashAt(seq: number): string | undefined {
    return this.store.auditHashAt(seq);
  }

  auditHighWatermark(): number {
    return this.store.auditHighWatermark();
  }

  auditAckedWatermark(): number {
    return this.store.auditAckedWatermark();
  }

  readUnackedAudit(options: { lane: AuditLane; afterSeq: number; limit: number }): AuditRecord[] {
    return this.store.readUnackedAudit(options);
  }

  acknowledgeAudit(ack: { contiguousSeq: number; alsoSeqs: readonly number[] }): void {
    this.store.acknowledgeAudit(ack);
  }

  pruneAcknowledgedAudit(olderThanMs: number): number {
    return this.store.pruneAcknowledgedAudit(olderThanMs);
  }

  observeTrustedTime(epochMs: number, source: string): void {
    this.runtime.observeTrustedTime(epochMs, source);
  }

  appendAudit<T extends AuditEventType>(type: T, lane: AuditLane, data: AuditEventData<T>): AuditRecord {
    return this.store.appendAudit(type, lane, data);
  }

  countSuppressedRejection(): void {
    this.store.countSuppressedRejection();
  }

  appendRejectionAudit(lane: AuditLane, data: AuditEventData<'sync.message-rejected'>): AuditRecord {
    return this.store.appendRejectionAudit(lane, data);
  }

  findCommandReply(transactionId: string): StoredCommandReply | undefined {
    return this.store.findCommandReply(transactionId);
  }

  beginCommand(transactionId: string, kind: string, expiresAt: number): void {
    this.store.beginCommand(transactionId, kind, expiresAt);
  }

  completeCommand(transactionId: string, replyJson: string): void {
    this.store.completeCommand(transactionId, replyJson);
  }

  unfinishedCommands(): Array<{ transactionId: string; kind: string; startedAt: number }> {
    return this.store.unfinishedCommands();
  }

  remoteOpen(transactionId: string, compartmentId: string, reason: string): Promise<RemoteOpenOutcome> {
    return this.runtime.remoteOpen(transactionId, compartmentId, reason);
  }

  setCompartmentService(transactionId: string, compartmentId: string, inService: boolean, reason: string): CompartmentServiceOutcome {
    return this.runtime.setCompartmentService(compartmentId, inService, 'backend', { reason, transactionId });
  }

  health(): DeviceHealth {
    return this.runtime.health();
  }
}
