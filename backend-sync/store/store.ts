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
import type { PollSchedulePort } from '../tracking/polling/poll-schedule-port.js';
import type { CarrierBudgetPort } from '../tracking/polling/carrier-budget-port.js';
import type { LegStatsRepository } from '../tracking/eta/leg-stats-store.js';
import type { TrackingRepository } from '../tracking/tracking-store.js';

// The backend's persistence, one repository per aggregate. Everything that must not be
// lost or double-booked is a CONDITIONAL write (UPDATE … WHERE state = …, INSERT … ON
// CONFLICT DO NOTHING) whose result says whether it happened: correctness never rests on
// JavaScript being single-threaded, so several processes on one SQLite file — and later
// several bridge instances on PostgreSQL — stay correct. See docs/decisions/0010.
//
// Methods are asynchronous: the same repositories run on the embedded SQLite engine and on
// PostgreSQL (docs/decisions/0029). `transaction` runs a unit of work atomically (SQLite:
// BEGIN IMMEDIATE, so concurrent writers queue on the lock instead of failing at commit;
// PostgreSQL: one pooled connection for the unit). Repository calls made anywhere inside
// the unit's async work join its transaction.

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
  insert(input: LockerInput, pepper: Buffer, now: number): Promise<boolean>;
  get(id: string): Promise<Locker | undefined>;
  /** The two fields a claim checks, without decoding the rest (hot path). */
  gate(id: string): Promise<{ status: LockerStatus; offlineSince: number | null } | undefined>;
  /**
   * Locks the locker's row until the caller's transaction ends (PostgreSQL FOR UPDATE; a
   * SQLite write transaction is exclusive anyway), for read-then-write work on per-locker
   * state that several instances may do at once. False when the locker does not exist.
   */
  lockRow(id: string): Promise<boolean>;
  detail(id: string, now: number): Promise<LockerDetail | undefined>;
  ids(): Promise<string[]>;
  /** One page of the registry in id order, after `afterId` (keyset pagination). */
  list(params: LockerListParams): Promise<Locker[]>;
  pepper(id: string): Promise<Buffer | undefined>;
  search(params: SearchParams): Promise<SearchHit[]>;
  setStatus(id: string, status: LockerStatus): Promise<boolean>;
  setPresence(id: string, online: boolean, at: number, presenceJson: string | undefined): Promise<void>;
  /** Conditional: changes the compartment only if it is in one of `from`. */
  setCompartmentState(lockerId: string, compartmentId: string, from: readonly CompartmentState[], to: CompartmentState, reservationId?: string | null): Promise<boolean>;
  /** A reserved compartment back to free, only while it names `reservationId` (null: none); false when it names another or is not reserved. */
  freeReservedFor(lockerId: string, compartmentId: string, reservationId: string | null): Promise<boolean>;
  /**
   * An out_of_service compartment back to `to`, naming `reservationId` (null: none) with that
   * hold expiry (null unless held); false when it is no longer out of service.
   */
  restoreCompartment(lockerId: string, compartmentId: string, to: CompartmentState, reservationId: string | null, holdExpiresAt: number | null): Promise<boolean>;
  compartment(lockerId: string, compartmentId: string): Promise<(CompartmentInput & { state: CompartmentState; reservationId?: string }) | undefined>;
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

/** A checkout hold with its idempotency record (reservation service, the HTTP hot path). */
export interface IdempotentHoldParams {
  id: string;
  orderRef: string;
  lockerId: string;
  size: CompartmentSize;
  expiresAt: number;
  now: number;
  offlineCutoff: number;
  /** The idempotency record's scope, key, request hash and status code. */
  scope: string;
  key: string;
  /** A record under this bare key (stored before keys were scoped by caller) is replayed when its request hash is `requestHash` (shared/idempotency.ts, priorRecord). */
  legacyKey?: string | undefined;
  requestHash: string;
  statusCode: number;
  /** The stored response is `before + JSON.stringify(compartmentId) + after`: the id is known only once claimed. */
  response: { before: string; after: string };
}

export type IdempotentHoldOutcome =
  | { kind: 'held'; reservation: ReservationRecord }
  /** The key was already used: its stored record, nothing written. */
  | { kind: 'replay'; record: IdempotencyRecord }
  /** Nothing free to claim (or the locker refuses holds): nothing written; the caller takes its slower path to say why. */
  | { kind: 'none' };

export interface ReservationRepository {
  /** Claims one free compartment with a single conditional write; undefined when none is free. */
  claim(params: ClaimParams): Promise<ReservationRecord | undefined>;
  /**
   * The whole idempotent hold — idempotency lookup, claim, reservation, state-log row,
   * idempotency record — atomic and durable when it resolves. PostgreSQL: one statement,
   * one round trip, no BEGIN/COMMIT; SQLite: one group-committed unit. Rejects with
   * IDEMPOTENCY_IN_PROGRESS (nothing written) when another request took the key meanwhile.
   */
  holdIdempotent(params: IdempotentHoldParams): Promise<IdempotentHoldOutcome>;
  get(id: string): Promise<ReservationRecord | undefined>;
  /** get() with the row locked until the transaction ends (PostgreSQL FOR UPDATE). */
  lock(id: string): Promise<ReservationRecord | undefined>;
  byOrder(orderId: string): Promise<ReservationRecord[]>;
  /** held → confirmed if not yet expired. */
  confirm(id: string, orderId: string, now: number): Promise<boolean>;
  /** held|confirmed → released|expired, freeing the compartment. */
  release(id: string, status: 'released' | 'expired', now: number): Promise<boolean>;
  /** confirmed → consumed by a shipment (the compartment stays reserved for the parcel). */
  consume(id: string, shipmentId: string, now: number): Promise<boolean>;
  /**
   * Moves a held or confirmed reservation to another free compartment of its size at the
   * same locker (the old one failed); returns the new compartment id, or undefined if none is free.
   */
  relocate(id: string, excludeCompartmentId: string, now: number, offlineCutoff: number): Promise<string | undefined>;
  /** A live reservation now names `compartmentId`, and the door it left is freed if that door still names it (the caller sets the new door's state); false when it is not live. */
  repoint(id: string, compartmentId: string, now: number): Promise<boolean>;
  /** Holds past their expiry, oldest first. */
  dueForExpiry(now: number, limit: number): Promise<ReservationRecord[]>;
  /**
   * Deletes abandoned holds (expired or released, no order) last changed before `before`,
   * oldest first, at most `limit`; resolves to how many.
   */
  purgeAbandoned(before: number, limit: number): Promise<number>;
}

export interface IdempotencyRecord {
  requestHash: string;
  statusCode: number;
  responseJson: string;
}

export interface IdempotencyRepository {
  get(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Insert-if-absent; false when the key already exists. */
  put(scope: string, key: string, record: IdempotencyRecord, now: number): Promise<boolean>;
  /** Deletes up to `limit` records created before `before`, oldest first; resolves to how many. */
  purge(before: number, limit: number): Promise<number>;
}

export interface OrderRepository {
  insert(order: OrderRecord, lines: readonly OrderLineRecord[]): Promise<void>;
  get(id: string): Promise<OrderRecord | undefined>;
  /**
   * Locks the order's row until the transaction ends, without touching it (PostgreSQL FOR
   * UPDATE): waits for, and is waited on by, OrderTransitions.lockOrder's version bump.
   */
  lockRow(id: string): Promise<void>;
  lines(orderId: string): Promise<OrderLineRecord[]>;
  /** Optimistic: only if the stored version is `expectedVersion`; bumps it. */
  updateState(id: string, state: OrderRecord['state'], expectedVersion: number, now: number): Promise<boolean>;
  /** Records the capture's answer; no capture is pending any more. */
  setPaymentRef(id: string, paymentRef: string): Promise<void>;
  /**
   * Counts a declined capture, only if `seen` declines were counted so far: a decline of an
   * older attempt's key arriving late opens no further key. False when it did not count it.
   * A counted decline answers the pending capture.
   */
  countDeclinedCapture(id: string, seen: number): Promise<boolean>;
  /**
   * Before a capture under the key of `declined` declines is sent: marks it pending, not due
   * for the sweeper before `dueAt`. False when the order was captured already or counted
   * another decline meanwhile (the caller's key is no longer the order's).
   */
  markCapturePending(id: string, declined: number, dueAt: number): Promise<boolean>;
  /**
   * Orders whose pending capture is due — a cancelled order's at once, any other's `graceMs`
   * after it fell due — each leased to the caller until `now + leaseMs` (PostgreSQL: rows
   * another instance's claim holds are skipped).
   */
  claimPendingCaptures(now: number, graceMs: number, leaseMs: number, limit: number): Promise<OrderRecord[]>;
  /** The order, leased as claimPendingCaptures does, if its pending capture is due; else undefined. */
  claimPendingCapture(id: string, now: number, leaseMs: number): Promise<OrderRecord | undefined>;
  setLines(orderId: string, lineIds: readonly string[], change: { state?: 'cancelled'; shipmentId?: string | null }): Promise<void>;
  /** One page of a customer's orders, newest first (orders/customer-orders.ts). */
  listByCustomer(q: CustomerOrderQuery): Promise<OrderRecord[]>;
}

export interface CustomerOrderQuery {
  /** orders/customer-key.ts: the explicit customer id, else the lowercased email. */
  customerKey: string;
  state?: OrderRecord['state'] | undefined;
  /** created_at >= from */
  from?: number | undefined;
  /** created_at < to */
  to?: number | undefined;
  /** Only orders with a shipment carrying this tracking number. */
  trackingNumber?: string | undefined;
  /** Keyset: orders strictly older than this (createdAt, id). */
  after?: { createdAt: number; id: string } | undefined;
  limit: number;
}

export interface ShipmentRepository {
  insert(s: ShipmentRecord): Promise<void>;
  get(id: string): Promise<ShipmentRecord | undefined>;
  byOrder(orderId: string): Promise<ShipmentRecord[]>;
  /** Shipments carrying this tracking number (normally one), oldest first. */
  byTrackingNumber(trackingNumber: string): Promise<ShipmentRecord[]>;
  /** Optimistic on version; `patch` fields are written alongside the state. */
  update(id: string, expectedVersion: number, patch: Partial<Omit<ShipmentRecord, 'id' | 'orderId' | 'version'>>, now: number): Promise<boolean>;
  setPendingCode(id: string, code: string | null): Promise<void>;
  /** Reads and clears the pending code in one step: it exists in clear only until handed over. */
  takePendingCode(id: string): Promise<string | undefined>;
  deliveredPastDeadline(now: number, limit: number): Promise<ShipmentRecord[]>;
  /** Shipments awaiting a return drop-off whose drop-off code expired at or before `before` (locked until the transaction ends, on PostgreSQL). */
  returnCodeExpired(before: number, limit: number): Promise<ShipmentRecord[]>;
  /** The shipments of several orders in one read (order history pages). */
  byOrders(orderIds: readonly string[]): Promise<ShipmentRecord[]>;
}

export interface StateLogRepository {
  append(entry: StateLogEntry): Promise<void>;
  list(entity: StateLogEntry['entity'], entityId: string): Promise<StateLogEntry[]>;
}

export interface RefundRepository {
  insert(r: RefundRecord): Promise<void>;
  byOrder(orderId: string): Promise<RefundRecord[]>;
  /**
   * Pending refunds, each leased to the caller until `now + leaseMs` so another instance
   * does not pay it out too; a lease that lapses (the instance died) makes it due again.
   */
  claimPending(now: number, leaseMs: number, limit: number): Promise<RefundRecord[]>;
  /**
   * Settles a pending refund paid (or declined) under the key of its `retries`-th retry;
   * false when it is no longer pending at that retry (settled, or sent again meanwhile).
   */
  settle(id: string, retries: number, outcome: { state: 'succeeded'; providerRef: string } | { state: 'failed'; error: string }, now: number): Promise<boolean>;
  /** A call whose answer was lost: the refund stays pending, not claimed again before `until`. */
  defer(id: string, retries: number, until: number, error: string, now: number): Promise<boolean>;
  /** Queues a failed refund again as its next retry (from `retries` retries so far); false when it is not failed at that count. */
  retry(id: string, retries: number, now: number): Promise<boolean>;
  get(id: string): Promise<RefundRecord | undefined>;
  /** Refunds in one state, oldest first, a keyset page after (createdAt, id). */
  page(q: { state: 'pending' | 'failed'; after?: { createdAt: number; id: string } | undefined; limit: number }): Promise<RefundRecord[]>;
  /** How many refunds the provider declined and nobody sent again yet. */
  countFailed(): Promise<number>;
}

export interface CodeSetRepository {
  /**
   * Creates the locker's code set at version 0 if absent and returns it, LOCKED until the
   * caller's transaction ends (PostgreSQL: FOR UPDATE; SQLite's write transaction is
   * exclusive anyway). Every version bump and every batch read starts here, so two
   * instances never give one version two contents.
   */
  ensure(lockerId: string): Promise<CodeSetRecord>;
  get(lockerId: string): Promise<CodeSetRecord | undefined>;
  all(): Promise<CodeSetRecord[]>;
  setVersion(lockerId: string, version: number, digest: string): Promise<void>;
  setPublished(lockerId: string, version: number): Promise<void>;
  setAcked(lockerId: string, version: number, digest: string, at: number): Promise<void>;
  setKeyringSent(lockerId: string, hash: string, version: number): Promise<void>;
  setTrustedKids(lockerId: string, kids: readonly string[]): Promise<void>;
  /** False when the locker already has a live entry with this code digest. */
  insertEntry(e: CodeEntryRecord): Promise<boolean>;
  entry(lockerId: string, tokenId: string): Promise<CodeEntryRecord | undefined>;
  liveEntries(lockerId: string): Promise<CodeEntryRecord[]>;
  /** Lockers with revoked entries whose token expired before `expiredBefore`, in id order, at most `limit`. */
  lockersWithStaleRevoked(expiredBefore: number, limit: number): Promise<string[]>;
  /**
   * Deletes the locker's revoked entries whose token expired before `expiredBefore` and
   * raises its deltaFloor to the newest revoked version deleted, in the caller's
   * transaction after `ensure`: a delta from below the floor would miss those revocations.
   */
  purgeRevoked(lockerId: string, expiredBefore: number): Promise<{ deleted: number; deltaFloor: number }>;
  /** Entries added after `version` and still live, and entries revoked after it that it had. */
  changesSince(lockerId: string, version: number): Promise<{ upserts: CodeEntryRecord[]; revocations: CodeEntryRecord[] }>;
  revoke(lockerId: string, tokenId: string, version: number, reason: string): Promise<boolean>;
  liveDigestExists(lockerId: string, codeDigest: string): Promise<boolean>;
  liveExpiredBefore(now: number, limit: number): Promise<CodeEntryRecord[]>;
  /** The lockers holding live entries signed by `kid`, in id order (ids only: there may be many entries). */
  lockersWithLiveKid(kid: string): Promise<string[]>;
  /** Live entries signed by `kid`, by locker and token id; of one locker when given. */
  liveByKid(kid: string, lockerId?: string): Promise<CodeEntryRecord[]>;
  /**
   * Lockers last sent a keyring other than `keyringHash`, not known to trust `activeKid`, with
   * nothing left to publish: in id order after `afterLockerId`, at most `limit`.
   */
  lockersMissingKeyring(keyringHash: string, activeKid: string, afterLockerId: string, limit: number): Promise<string[]>;
  /** Lockers whose set holds changes not yet published (version above publishedVersion), in id order, at most `limit`. */
  lockersWithUnpublished(limit: number): Promise<string[]>;
}

/**
 * Audit chains, one per (locker, device database epoch): a replaced database numbers its
 * records from 1 again, so a seq alone does not identify a record (docs/decisions/0023).
 */
export interface AuditRepository {
  /** Insert-if-absent keyed on (locker, epoch, seq): a duplicate upload changes nothing. */
  insert(r: AuditRecordRow, receivedAt: number): Promise<boolean>;
  get(lockerId: string, epoch: string, seq: number): Promise<AuditRecordRow | undefined>;
  /** Stored records with afterSeq < seq <= upToSeq, ascending, at most `limit` (gaps simply absent). */
  span(lockerId: string, epoch: string, afterSeq: number, upToSeq: number, limit: number): Promise<AuditRecordRow[]>;
  /**
   * How many records are stored with afterSeq < seq <= upToSeq: the span's length exactly when
   * none is missing (seqs are unique). Counted from the primary key, no record read.
   */
  countSpan(lockerId: string, epoch: string, afterSeq: number, upToSeq: number): Promise<number>;
  /** Keeps a record that arrived for an occupied seq with another hash (evidence; never acked). */
  recordConflict(r: AuditRecordRow, receivedAt: number): Promise<void>;
  hasConflict(lockerId: string, epoch: string, seq: number): Promise<boolean>;
  count(lockerId: string, epoch?: string): Promise<number>;
  contiguousSeq(lockerId: string, epoch: string): Promise<number>;
  /** Raises the watermark (never lowers it). */
  setContiguousSeq(lockerId: string, epoch: string, seq: number): Promise<void>;
  /** Lowers the watermark to `seq` when above it: a conflict was found inside the prefix. */
  capContiguousSeq(lockerId: string, epoch: string, seq: number): Promise<void>;
  /**
   * The lowest broken seq of one epoch's chain, or of any epoch when `epoch` is omitted. Only
   * the lowest is kept: a break above it is found from the records (locker-sync/ack-vouching.ts).
   */
  chainBrokenAt(lockerId: string, epoch?: string): Promise<number | undefined>;
  flagChainBreak(lockerId: string, epoch: string, seq: number): Promise<void>;
  /** Records not yet mapped to business events, in sequence order. */
  unprocessed(lockerId: string, epoch: string, upToSeq: number, priorityAboveToo: boolean): Promise<AuditRecordRow[]>;
  markProcessed(lockerId: string, epoch: string, seq: number): Promise<boolean>;
  /** The device database epoch the locker announced last (presence or upload). */
  currentEpoch(lockerId: string): Promise<string | undefined>;
  /** Records `epoch` as the locker's current one (and as known, for good); true when it changed. */
  setCurrentEpoch(lockerId: string, epoch: string, at: number): Promise<boolean>;
  /** True once `epoch` was current for the locker or had records stored: it is not a new database. */
  knowsEpoch(lockerId: string, epoch: string): Promise<boolean>;
  /** Insert-if-absent on (locker, epoch, seq); a first insert also counts it in the locker's review counter. */
  keepForReview(r: AuditReviewRecord): Promise<boolean>;
  /** Records kept for review, oldest first (one locker, or all). */
  reviewList(lockerId?: string): Promise<AuditReviewRecord[]>;
  /** How many records of this locker (all epochs) were ever kept for review. */
  reviewCount(lockerId: string): Promise<number>;
}

export interface NotificationRepository {
  /** Insert-if-absent on the dedupe key: a transition enqueues its notification once. */
  enqueue(n: NotificationRecord): Promise<boolean>;
  /** Due notifications, each leased to the caller until `now + leaseMs` (see RefundRepository.claimPending). */
  claimDue(now: number, leaseMs: number, limit: number): Promise<NotificationRecord[]>;
  markSent(id: string, at: number, redactedPayload: Record<string, unknown>): Promise<void>;
  markFailedAttempt(id: string, attempts: number, nextAttemptAt: number, error: string, giveUp: boolean): Promise<void>;
  list(filter?: { kind?: string }): Promise<NotificationRecord[]>;
  /** Notifications still waiting to be sent (the outbox backlog). */
  backlog(): Promise<number>;
  /**
   * Deletes finished notifications (sent or given up) created before `before`, oldest
   * first, at most `limit`; resolves to how many. Pending ones are never deleted.
   */
  purgeFinished(before: number, limit: number): Promise<number>;
}

export interface AlertRepository {
  /** Insert-if-absent on the dedupe key. */
  raise(a: AlertRecord, dedupeKey: string): Promise<boolean>;
  /** Every alert, oldest first (tests and tools; the API pages with `page`). */
  list(lockerId?: string): Promise<AlertRecord[]>;
  /** Up to `limit` alerts, newest first, older than `before` when given (a keyset cursor). */
  page(q: { lockerId?: string | undefined; before?: { at: number; id: string } | undefined; limit: number }): Promise<AlertRecord[]>;
}

export interface SigningKeyRepository {
  upsertSeen(kid: string, publicKey: string, at: number): Promise<void>;
  all(): Promise<SigningKeyRecord[]>;
  retire(kid: string, at: number): Promise<void>;
  revoke(kid: string, at: number): Promise<boolean>;
  /** Clears retired_at: an operator pinned a retired kid active again (keys.activeKid). */
  unretire(kid: string): Promise<void>;
  /** Inside a transaction: holds off other instances' key changes until it ends, so a read-then-choose sees what it writes over. */
  lockForChange(): Promise<void>;
}

export interface CommandRepository {
  insert(c: CommandRecord): Promise<void>;
  get(transactionId: string): Promise<CommandRecord | undefined>;
  /** Pending commands due for (re)publishing, each leased to the caller until `now + leaseMs`. */
  claimDue(now: number, leaseMs: number, limit: number): Promise<CommandRecord[]>;
  markAttempt(transactionId: string, attempts: number, nextAttemptAt: number): Promise<void>;
  /** pending → replied; false when already replied (a duplicate reply) or unknown. */
  reply(transactionId: string, reply: Record<string, unknown>, at: number): Promise<boolean>;
  expire(now: number): Promise<number>;
}

export interface LockerHealthRepository {
  get(lockerId: string): Promise<LockerHealthRecord | undefined>;
  /** Up to `limit` rows of lockers after `afterLockerId` ('' for the first page), in locker id order. */
  page(afterLockerId: string, limit: number): Promise<LockerHealthRecord[]>;
  /** Insert or replace the locker's one row. */
  put(record: LockerHealthRecord): Promise<void>;
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
  /** Shipment tracking: inbox, dedupe, history, projection, read model (tracking/tracking-store.ts). */
  readonly tracking: TrackingRepository;
  readonly pollSchedule: PollSchedulePort;
  /** Each carrier's polling budget, shared by the instances (tracking/polling/carrier-budget-port.ts). */
  readonly carrierBudgets: CarrierBudgetPort;
  /** Learned leg times for the ETA (tracking/eta/leg-stats-store.ts). */
  readonly legStats: LegStatsRepository;
  /** Runs `work` atomically; a nested call is a savepoint inside the outer transaction. */
  transaction<T>(work: () => Promise<T>): Promise<T>;
  /**
   * Runs `work` atomically, possibly sharing one commit with other work queued in the same
   * turn (group commit, see sqlite/group-commit.ts); resolves after that commit.
   */
  transactionGrouped<T>(work: () => Promise<T>): Promise<T>;
  /** The engine underneath, for the few places that must know (metrics, benches). */
  readonly engine: 'sqlite' | 'postgres';
  /** One trivial statement (for /health): resolves when the database answers, rejects when it cannot be reached; never queued behind busy connections (SqlExecutor.ping). */
  ping(): Promise<void>;
  /**
   * The database server's clock, epoch ms: the one clock every instance sharing this
   * database reads alike (shared/db-clock.ts aligns an instance's clock to it).
   */
  dbTime(): Promise<number>;
  close(): Promise<void>;
}
