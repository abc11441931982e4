import type { CompartmentSize } from '../shared/contract.js';
import type { CompartmentInput, CompartmentState, Locker, LockerDetail, LockerInput, LockerStatus, SearchHit } from '../lockers/locker-schemas.js';
import type {
  AlertRecord,
  CommandRecord,
  AuditRecordRow,
  AuditReviewRecord,
  CodeEntryRecord,
  CodeSetRecord,
  LockerHealthRecord,
  NotificationRecord,
  OrderLineRecord,
  OrderRecord,
  RefundRecord,
  ReservationRecord,
  ShipmentRecord,
  SigningKeyRecord,
  StateLogEntry,
} from './records.js';

// The backend's persistence, one repository per aggregate. Everything that must not be
// lost or double-booked is a CONDITIONAL write (UPDATE … WHERE state = …, INSERT … ON
// CONFLICT DO NOTHING) whose result says whether it happened: correctness never rests on
// JavaScript being single-threaded, so several processes on one SQLite file — and later
// several bridge instances on PostgreSQL — stay correct. See docs/decisions/0010.
//
// Methods are synchronous (better-sqlite3). `transaction` runs a unit of work atomically
// (SQLite: BEGIN IMMEDIATE, so concurrent writers queue on the lock instead of failing
// at commit). The PostgreSQL store will implement the same interfaces with the same SQL
// shapes; the sync-to-async change is confined to this file and the services' call sites.

export interface SearchParams {
  lat: number;
  lng: number;
  radiusM: number;
  size?: CompartmentSize | undefined;
  limit: number;
  now: number;
  /** Lockers offline since before this instant are not offered. */
  offlineCutoff: number;
}

export interface LockerListParams {
  afterId?: string;
  status?: LockerStatus;
  limit: number;
}

export interface LockerRepository {
  insert(input: LockerInput, pepper: Buffer, now: number): boolean;
  get(id: string): Locker | undefined;
  /** The two fields a claim checks, without decoding the rest (hot path). */
  gate(id: string): { status: LockerStatus; offlineSince: number | null } | undefined;
  detail(id: string, now: number): LockerDetail | undefined;
  ids(): string[];
  /** One page of the registry in id order, after `afterId` (keyset pagination). */
  list(params: LockerListParams): Locker[];
  pepper(id: string): Buffer | undefined;
  search(params: SearchParams): SearchHit[];
  setStatus(id: string, status: LockerStatus): boolean;
  setPresence(id: string, online: boolean, at: number, presenceJson: string | undefined): void;
  /** Conditional: changes the compartment only if it is in one of `from`. */
  setCompartmentState(lockerId: string, compartmentId: string, from: readonly CompartmentState[], to: CompartmentState, reservationId?: string | null): boolean;
  compartment(lockerId: string, compartmentId: string): (CompartmentInput & { state: CompartmentState; reservationId?: string }) | undefined;
}

export interface ClaimParams {
  id: string;
  orderRef: string;
  lockerId: string;
  size: CompartmentSize;
  status: 'held' | 'confirmed';
  expiresAt: number;
  now: number;
  /** Lockers offline since before this instant are refused. */
  offlineCutoff: number;
  /** Never this compartment (re-slotting away from a faulty one). */
  excludeCompartmentId?: string;
}

export interface ReservationRepository {
  /** Claims one free compartment with a single conditional write; undefined when none is free. */
  claim(params: ClaimParams): ReservationRecord | undefined;
  get(id: string): ReservationRecord | undefined;
  byOrder(orderId: string): ReservationRecord[];
  /** held → confirmed if not yet expired. */
  confirm(id: string, orderId: string, now: number): boolean;
  /** held|confirmed → released|expired, freeing the compartment. */
  release(id: string, status: 'released' | 'expired', now: number): boolean;
  /** confirmed → consumed by a shipment (the compartment stays reserved for the parcel). */
  consume(id: string, shipmentId: string, now: number): boolean;
  /**
   * Moves a held or confirmed reservation to another free compartment of its size at the
   * same locker (the old one failed); returns the new compartment id, or undefined if none is free.
   */
  relocate(id: string, excludeCompartmentId: string, now: number, offlineCutoff: number): string | undefined;
  /** Holds past their expiry, oldest first. */
  dueForExpiry(now: number, limit: number): ReservationRecord[];
}

export interface IdempotencyRecord {
  requestHash: string;
  statusCode: number;
  responseJson: string;
}

export interface IdempotencyRepository {
  get(scope: string, key: string): IdempotencyRecord | undefined;
  /** Insert-if-absent; false when the key already exists. */
  put(scope: string, key: string, record: IdempotencyRecord, now: number): boolean;
}

export interface OrderRepository {
  insert(order: OrderRecord, lines: readonly OrderLineRecord[]): void;
  get(id: string): OrderRecord | undefined;
  lines(orderId: string): OrderLineRecord[];
  /** Optimistic: only if the stored version is `expectedVersion`; bumps it. */
  updateState(id: string, state: OrderRecord['state'], expectedVersion: number, now: number): boolean;
  setPaymentRef(id: string, paymentRef: string): void;
  setLines(orderId: string, lineIds: readonly string[], change: { state?: 'cancelled'; shipmentId?: string | null }): void;
}

export interface ShipmentRepository {
  insert(s: ShipmentRecord): void;
  get(id: string): ShipmentRecord | undefined;
  byOrder(orderId: string): ShipmentRecord[];
  /** Optimistic on version; `patch` fields are written alongside the state. */
  update(id: string, expectedVersion: number, patch: Partial<Omit<ShipmentRecord, 'id' | 'orderId' | 'version'>>, now: number): boolean;
  setPendingCode(id: string, code: string | null): void;
  /** Reads and clears the pending code in one step: it exists in clear only until handed over. */
  takePendingCode(id: string): string | undefined;
  deliveredPastDeadline(now: number, limit: number): ShipmentRecord[];
}

export interface StateLogRepository {
  append(entry: StateLogEntry): void;
  list(entity: StateLogEntry['entity'], entityId: string): StateLogEntry[];
}

export interface RefundRepository {
  insert(r: RefundRecord): void;
  byOrder(orderId: string): RefundRecord[];
  pending(limit: number): RefundRecord[];
  settle(id: string, state: 'succeeded' | 'failed', providerRef: string | undefined, now: number): boolean;
}

export interface CodeSetRepository {
  /** Creates the locker's code set at version 0 if absent. */
  ensure(lockerId: string): CodeSetRecord;
  get(lockerId: string): CodeSetRecord | undefined;
  all(): CodeSetRecord[];
  setVersion(lockerId: string, version: number, digest: string): void;
  setPublished(lockerId: string, version: number): void;
  setAcked(lockerId: string, version: number, digest: string, at: number): void;
  setKeyringSent(lockerId: string, hash: string, version: number): void;
  setTrustedKids(lockerId: string, kids: readonly string[]): void;
  /** False when the locker already has a live entry with this code digest. */
  insertEntry(e: CodeEntryRecord): boolean;
  entry(lockerId: string, tokenId: string): CodeEntryRecord | undefined;
  liveEntries(lockerId: string): CodeEntryRecord[];
  /** Entries added after `version` and still live, and entries revoked after it that it had. */
  changesSince(lockerId: string, version: number): { upserts: CodeEntryRecord[]; revocations: CodeEntryRecord[] };
  revoke(lockerId: string, tokenId: string, version: number, reason: string): boolean;
  liveDigestExists(lockerId: string, codeDigest: string): boolean;
  liveExpiredBefore(now: number, limit: number): CodeEntryRecord[];
  liveByKid(kid: string): CodeEntryRecord[];
}

/**
 * Audit chains, one per (locker, device database epoch): a replaced database numbers its
 * records from 1 again, so a seq alone does not identify a record (docs/decisions/0023).
 */
export interface AuditRepository {
  /** Insert-if-absent keyed on (locker, epoch, seq): a duplicate upload changes nothing. */
  insert(r: AuditRecordRow, receivedAt: number): boolean;
  get(lockerId: string, epoch: string, seq: number): AuditRecordRow | undefined;
  /** Keeps a record that arrived for an occupied seq with another hash (evidence; never acked). */
  recordConflict(r: AuditRecordRow, receivedAt: number): void;
  hasConflict(lockerId: string, epoch: string, seq: number): boolean;
  count(lockerId: string, epoch?: string): number;
  contiguousSeq(lockerId: string, epoch: string): number;
  /** Raises the watermark (never lowers it). */
  setContiguousSeq(lockerId: string, epoch: string, seq: number): void;
  /** Lowers the watermark to `seq` when above it: a conflict was found inside the prefix. */
  capContiguousSeq(lockerId: string, epoch: string, seq: number): void;
  /** The lowest broken seq of one epoch's chain, or of any epoch when `epoch` is omitted. */
  chainBrokenAt(lockerId: string, epoch?: string): number | undefined;
  flagChainBreak(lockerId: string, epoch: string, seq: number): void;
  /** Records not yet mapped to business events, in sequence order. */
  unprocessed(lockerId: string, epoch: string, upToSeq: number, priorityAboveToo: boolean): AuditRecordRow[];
  markProcessed(lockerId: string, epoch: string, seq: number): boolean;
  /** The device database epoch the locker announced last (presence or upload). */
  currentEpoch(lockerId: string): string | undefined;
  /** Records `epoch` as the locker's current one; true when it changed. */
  setCurrentEpoch(lockerId: string, epoch: string, at: number): boolean;
  /** Insert-if-absent on (locker, epoch, seq); a first insert also counts it in the locker's review counter. */
  keepForReview(r: AuditReviewRecord): boolean;
  /** Records kept for review, oldest first (one locker, or all). */
  reviewList(lockerId?: string): AuditReviewRecord[];
  /** How many records of this locker (all epochs) were ever kept for review. */
  reviewCount(lockerId: string): number;
}

export interface NotificationRepository {
  /** Insert-if-absent on the dedupe key: a transition enqueues its notification once. */
  enqueue(n: NotificationRecord): boolean;
  due(now: number, limit: number): NotificationRecord[];
  markSent(id: string, at: number, redactedPayload: Record<string, unknown>): void;
  markFailedAttempt(id: string, attempts: number, nextAttemptAt: number, error: string, giveUp: boolean): void;
  list(filter?: { kind?: string }): NotificationRecord[];
  /** Notifications still waiting to be sent (the outbox backlog). */
  backlog(): number;
}

export interface AlertRepository {
  /** Insert-if-absent on the dedupe key. */
  raise(a: AlertRecord, dedupeKey: string): boolean;
  list(lockerId?: string): AlertRecord[];
}

export interface SigningKeyRepository {
  upsertSeen(kid: string, publicKey: string, at: number): void;
  all(): SigningKeyRecord[];
  retire(kid: string, at: number): void;
  revoke(kid: string, at: number): boolean;
}

export interface CommandRepository {
  insert(c: CommandRecord): void;
  get(transactionId: string): CommandRecord | undefined;
  /** Pending commands due for (re)publishing. */
  due(now: number, limit: number): CommandRecord[];
  markAttempt(transactionId: string, attempts: number, nextAttemptAt: number): void;
  /** pending → replied; false when already replied (a duplicate reply) or unknown. */
  reply(transactionId: string, reply: Record<string, unknown>, at: number): boolean;
  expire(now: number): number;
}

export interface LockerHealthRepository {
  get(lockerId: string): LockerHealthRecord | undefined;
  /** Insert or replace the locker's one row. */
  put(record: LockerHealthRecord): void;
}

export interface Store {
  readonly lockers: LockerRepository;
  readonly reservations: ReservationRepository;
  readonly idempotency: IdempotencyRepository;
  readonly orders: OrderRepository;
  readonly shipments: ShipmentRepository;
  readonly stateLog: StateLogRepository;
  readonly refunds: RefundRepository;
  readonly codeSets: CodeSetRepository;
  readonly audit: AuditRepository;
  readonly notifications: NotificationRepository;
  readonly alerts: AlertRepository;
  readonly signingKeys: SigningKeyRepository;
  readonly commands: CommandRepository;
  readonly lockerHealth: LockerHealthRepository;
  /** Runs `work` atomically; a nested call is a savepoint inside the outer transaction. */
  transaction<T>(work: () => T): T;
  /**
   * Runs `work` atomically, possibly sharing one commit with other work queued in the same
   * turn (group commit, see sqlite/group-commit.ts); resolves after that commit.
   */
  transactionGrouped<T>(work: () => T): Promise<T>;
  close(): void;
}
