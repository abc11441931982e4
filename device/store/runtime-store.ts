import type { AuditEventData, AuditEventType } from '@locker/contract/audit-events/index.js';
import type { CodeEntry } from '@locker/contract/codes/code-batch.js';
import type { CompartmentSize, TokenPurpose } from '@locker/contract/tokens/claims.js';
import type { AuditLane, AuditRecord, BatchApplyResult, CodeSetState, StoredCommandReply } from '@locker/sync-agent/device-sync-port.js';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import type { AuditChainCheck } from '@locker/contract/audit/audit-chain.js';
import type { KeyringRow } from '@locker/contract/tokens/keyring.js';

import type { ClockTrustRow } from './meta-repository.js';
import type { RetentionOptions, RetentionResult } from './history-retention.js';

export type { AuditChainCheck, KeyringRow };

// The device's persistent state as the runtime and the sync agent see it. Implemented by
// DeviceStore (device/store/device-store.ts) on one SQLite file. Every method is
// synchronous; every method that changes more than one row does it in one transaction;
// `transaction(fn)` composes several calls into one (nested calls become savepoints).

/**
 * awaiting-deposit  in the batch, no parcel yet: the code does not open anything
 * live              deposited: the customer's code / QR opens it
 * collected         the customer took it (terminal)
 * expired           pickup window over: no longer opens for the customer, flagged for return
 * retrieved         a courier took an expired parcel or a drop-off back (terminal)
 * revoked           the backend revoked the token (terminal)
 */
export type CodeEntryState = 'awaiting-deposit' | 'live' | 'collected' | 'expired' | 'retrieved' | 'revoked';

export interface StoredCodeEntry extends CodeEntry {
  state: CodeEntryState;
  /** Where the parcel actually is: differs from compartmentId when the courier re-slotted it. */
  currentCompartmentId: string;
  depositedAt?: number;
  closedAt?: number;
}

/**
 * free            nothing inside, nothing assigned
 * occupied        a parcel (or a return) is inside
 * out-of-service  failed repeatedly (jam, sensor fault) or taken out by an operator
 */
export type CompartmentStatus = 'free' | 'occupied' | 'out-of-service';

export interface CompartmentRow {
  id: string;
  size: CompartmentSize;
  status: CompartmentStatus;
  /** Consecutive failures (jam, no-open); reset by a good cycle. */
  failureCount: number;
  /** Parcel inside, when occupied. */
  parcelId?: string;
  outOfServiceReason?: string;
}

export type OpenReason = TokenPurpose | 'remote' | 'needs-larger' | 'door-faulty';

/** A relay pulse the runtime is about to fire, written before the pulse (write-ahead). */
export interface OpenOperation {
  opId: string;
  compartmentId: string;
  reason: OpenReason;
  tokenId?: string;
  parcelId?: string;
  transactionId?: string;
  startedAt: number;
}

export type OpenOutcome = 'opened' | 'already-open' | 'jammed' | 'relay-fault' | 'unknown';

export interface RuntimeStore {
  readonly lockerId: string;
  /**
   * The database epoch (docs/decisions/0023): created with the file; changes only through
   * renewDbEpoch, when the file turns out to be a restored copy.
   */
  readonly dbEpoch: string;
  /**
   * The file is a restored copy (the backend holds other records at its seqs from
   * `conflictAt`): takes a fresh epoch and records why (`device.epoch-renewed`, priority
   * lane) in one transaction; returns the new epoch. Seqs continue: records keep their hashes and chain,
   * only the epoch they are uploaded under changes.
   */
  renewDbEpoch(evidence: { reason: string; conflictAt: number }): string;
  transaction<T>(fn: () => T): T;
  close(): void;

  // Compartments. The layout (ids and sizes) comes from config at start; state persists.
  syncCompartmentLayout(layout: ReadonlyArray<{ id: string; size: CompartmentSize }>): void;
  listCompartments(): CompartmentRow[];
  getCompartment(id: string): CompartmentRow | undefined;
  setCompartmentStatus(id: string, status: CompartmentStatus, details?: { parcelId?: string; reason?: string }): void;
  /** Increments and returns the consecutive failure count. */
  recordCompartmentFailure(id: string): number;
  resetCompartmentFailures(id: string): void;

  // Code set.
  codeSetState(): CodeSetState;
  applyCodeBatch(batch: CodeBatch): BatchApplyResult;
  /**
   * The same outcome, with the new entries written in short transactions between which the
   * event loop runs, and one short transaction switching the version (decision 0025).
   */
  applyCodeBatchInSlices(batch: CodeBatch): Promise<BatchApplyResult>;
  /**
   * The entry a keypad code designates: only entries that can still open (awaiting-deposit
   * or live, unique per digest). A code whose entry was collected, expired, retrieved or
   * revoked is unknown: its digest may already belong to another parcel.
   */
  findEntryByCodeDigest(codeDigest: string): StoredCodeEntry | undefined;
  findEntryByTokenId(tokenId: string): StoredCodeEntry | undefined;
  findEntriesByParcel(parcelId: string): StoredCodeEntry[];
  /** Live entries whose compartment is `compartmentId` (normally at most one). */
  findEntriesInCompartment(compartmentId: string): StoredCodeEntry[];
  /**
   * Compartments promised to a parcel that is not inside yet: an awaiting-deposit entry's
   * assignment, a live return drop-off's compartment (other than `exceptTokenId`'s). A
   * courier must not fill them with another parcel. A scan (couriers only, not hot).
   */
  reservedCompartments(exceptTokenId: string): Set<string>;
  /**
   * Device-local transitions. deposited: awaiting-deposit|live → live (again = re-slot);
   * collected: live →; expired: awaiting-deposit|live →; retrieved: live|expired →.
   * Repeating a completed transition is a no-op; an unknown token throws STORE_NOT_FOUND,
   * any other source state STORE_STATE_CONFLICT (nothing changes).
   */
  markDeposited(tokenId: string, compartmentId: string, at: number): void;
  markCollected(tokenId: string, at: number): void;
  markExpired(tokenId: string, at: number): void;
  markRetrieved(tokenId: string, at: number): void;
  /** Deposited parcels (state live), with or without a keypad code. */
  liveCodeCount(): number;
  /**
   * Codes the keypad can match (findEntryByCodeDigest): entries with a code digest that
   * are live or awaiting deposit. Their sum is what the lockout odds assume is at most
   * lockout.maxLiveCodes (docs/security.md §1).
   */
  keypadCodeCounts(): { live: number; awaitingDeposit: number };
  /**
   * The sum of keypadCodeCounts(), but counted no further than `limit`: cheap when only
   * "above the limit or not" matters (the odds check after every batch).
   */
  keypadCodeCountUpTo(limit: number): number;
  isTokenRevoked(tokenId: string): boolean;

  // Replay protection: keyed on the token id (never on signature bytes), survives restart.
  isTokenUsed(tokenId: string): boolean;
  /**
   * `expiresAt`: the token's exp (epoch ms) when the caller verified it; the store also
   * reads it from the code entry with that id. It bounds how long the id is kept
   * (pruneHistory); without either the id is kept for good.
   */
  markTokenUsed(tokenId: string, purpose: TokenPurpose, at: number, expiresAt?: number): void;

  // Trusted backend keys (persisted; changed by code batches).
  keyringRows(): KeyringRow[];

  // Small state blobs owned by pure policies (rate limiter, clock trust), as JSON text.
  loadState(key: string): string | undefined;
  saveState(key: string, json: string): void;

  // Trusted-time floor: the latest trusted time seen; never decreases.
  clockFloor(): number;
  /** Raises the floor to `epochMs` if higher; returns true if it moved. */
  raiseClockFloor(epochMs: number): boolean;
  /** The clock-trust anchors (docs/decisions/0019): floor, confirmed flag, highest signed time. */
  clockTrust(): ClockTrustRow;
  /** Saves them; false when the store refused a change that would break their invariants. */
  saveClockTrust(trust: ClockTrustRow): boolean;

  // Open journal: a pulse is written here before it is fired.
  beginOpen(op: OpenOperation): void;
  finishOpen(opId: string, outcome: OpenOutcome, at: number): void;
  /** Opens begun and never finished (the process died in between). */
  unfinishedOpens(): OpenOperation[];

  // Tamper-evident audit log (hash chain) that doubles as the upload outbox.
  /**
   * `at` is the store's injected `now` (trusted time). Data with a key named code, token or
   * pin throws DeviceError INTERNAL (default outside production) or is redacted. Types and
   * data come from the audit contract (sync/contract/audit-events); data its schema refuses
   * throws (default outside production) or is logged and recorded as given.
   * applyCodeBatch writes its own 'code-batch.applied' record in its transaction.
   */
  appendAudit<T extends AuditEventType>(type: T, lane: AuditLane, data: AuditEventData<T>): AuditRecord;
  /** Durably counts one rejection that the rate limit kept out of the audit log. */
  countSuppressedRejection(): void;
  /** The durable count of rejections suppressed since the last sync.message-rejected record. */
  suppressedRejections(): number;
  /**
   * appendAudit of a sync.message-rejected record, with the durable count of suppressed
   * rejections added as `suppressedBefore` (when non-zero) and reset, in the same transaction.
   */
  appendRejectionAudit(lane: AuditLane, data: AuditEventData<'sync.message-rejected'>): AuditRecord;
  verifyAuditChain(): AuditChainCheck;
  auditHighWatermark(): number;
  /** The hash of the audit record at `seq`, while the log still holds it. */
  auditHashAt(seq: number): string | undefined;
  auditAckedWatermark(): number;
  readUnackedAudit(options: { lane: AuditLane; afterSeq: number; limit: number }): AuditRecord[];
  acknowledgeAudit(ack: { contiguousSeq: number; alsoSeqs: readonly number[] }): void;
  /**
   * `olderThanMs` is an age (retention), not a date: deletes acknowledged records with
   * at < now - olderThanMs, as a contiguous prefix so the rest still verifies.
   */
  pruneAcknowledgedAudit(olderThanMs: number): number;

  // Retention (history-retention.ts, incremental-vacuum.ts): run by the runtime's sweep.
  /** Deletes history that protects nothing any more; replay/revoked ids measured on the clock floor. */
  pruneHistory(options: RetentionOptions): RetentionResult;
  /** Returns up to `maxPages` free pages to the file system; how many it returned. */
  reclaimSpace(maxPages: number): number;

  // Commands from the backend (idempotency by transaction id).
  findCommandReply(transactionId: string): StoredCommandReply | undefined;
  beginCommand(transactionId: string, kind: string, expiresAt: number): void;
  completeCommand(transactionId: string, replyJson: string): void;
  unfinishedCommands(): Array<{ transactionId: string; kind: string; startedAt: number }>;
}
