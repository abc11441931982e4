import type { CompositeProbe } from './core/event-identity.js';
import type { Flag, TrackingProjection } from './core/tracking-fold.js';
import type { CanonicalTrackingEvent, TrackingSource, TrackingStatus } from './tracking-event.js';

// What the tracking core needs from the database (one implementation over SqlExecutor for
// both engines: store/sql/tracking-repository.ts). The types live here, in the core; the
// store imports them.

export interface InboxEntry {
  trackingNumber: string;
  payloadId: string;
  source: TrackingSource;
  event: CanonicalTrackingEvent;
  /** When we received it: what apply lag, purges, the composite window and the poll schedule measure. */
  receivedAt: number;
  /**
   * A promise with no scan of its own (AfterShip edd_revise): when the provider made it, never
   * after receivedAt. It orders the revisions of one scan (tracking-applier.ts, revisionFor),
   * and nothing else: a webhook retried for hours was still received now.
   */
  revisedAt?: number | undefined;
}

export interface InboxRow extends InboxEntry {
  seq: number;
  /** The event as stored: history keeps the same text (no second stringify). */
  eventJson: string;
}

/**
 * An inbox row whose stored event no longer reads as a canonical event (edited by hand, or
 * written by another release): the applier moves it to the dead letters instead of letting
 * it stop every drain.
 */
export interface UnreadableInboxRow {
  seq: number;
  trackingNumber: string;
  /** As stored when it reads as a source, else `canonical` (the reason says what was stored). */
  source: TrackingSource;
  eventJson: string;
  receivedAt: number;
  reason: string;
}

/** What a claim took: the rows to apply, and those that cannot be read. */
export interface InboxClaim {
  rows: InboxRow[];
  unreadable: UnreadableInboxRow[];
}

export interface HistoryEntry extends InboxEntry {
  hash: string;
  /** The event's JSON text when it is at hand (from its inbox row); else it is written from `event`. */
  eventJson?: string | undefined;
}

export interface HistoryRow extends HistoryEntry {
  seq: number;
}

export interface StoredProjection {
  projection: TrackingProjection;
  version: number;
}

export interface ReviewRow {
  hash: string;
  trackingNumber: string;
  from: string | null;
  to: string;
  eventTime: number;
  reason: string;
  flaggedAt: number;
}

export interface DeadLetterRow {
  id: string;
  source: TrackingSource;
  body: string;
  reason: string;
  receivedAt: number;
}

/** A dead letter as listed: its body only as a bounded preview and its size (a body may be megabytes). */
export interface DeadLetterSummary {
  id: string;
  source: TrackingSource;
  reason: string;
  receivedAt: number;
  /** The stored body's size in UTF-8 bytes. */
  bodyBytes: number;
  /** The body's first `previewChars` characters (all of it when shorter). */
  preview: string;
}

export interface DeadLetterQuery {
  source?: TrackingSource | undefined;
  /** received_at >= from */
  from?: number | undefined;
  /** received_at < to */
  to?: number | undefined;
  /** Keyset: dead letters strictly older than this (receivedAt, id). */
  after?: { receivedAt: number; id: string } | undefined;
  limit: number;
  previewChars: number;
}

export interface ReadModelRow {
  docJson: string;
  etag: string;
}

export interface TrackingRepository {
  insertPayload(p: { id: string; source: TrackingSource; body: string; receivedAt: number }): Promise<void>;
  /** Adds accepted events to the inbox, in order, with one statement. */
  enqueue(entries: readonly InboxEntry[]): Promise<void>;
  /** Exact: counts every row (tests, small inboxes). */
  inboxSize(): Promise<number>;
  /**
   * What the metrics show, at a bounded cost whatever the backlog: the rows counted up to
   * `cap`, and when the oldest pending row was received (null when empty).
   */
  inboxBacklog(cap: number): Promise<{ events: number; oldestReceivedAt: number | null }>;
  /**
   * The tracking numbers of the `numbers` oldest inbox rows, with all their pending rows
   * (at most `rows`, oldest first), claimed until the caller's transaction ends: PostgreSQL
   * locks them FOR UPDATE SKIP LOCKED, so another instance claims others instead of
   * waiting; SQLite's write transaction is exclusive anyway. Call inside a transaction.
   * A row that cannot be read comes back in `unreadable`, claimed the same way.
   */
  claimInbox(numbers: number, rows: number): Promise<InboxClaim>;
  /** One number's pending rows (at most `rows`, oldest first), claimed like claimInbox. */
  claimInboxOf(trackingNumber: string, rows: number): Promise<InboxClaim>;
  deleteInbox(seqs: readonly number[]): Promise<void>;
  deadLetter(d: DeadLetterRow): Promise<void>;
  deadLetters(): Promise<DeadLetterRow[]>;
  /** One page of dead letters, newest first (receivedAt, then id, descending): tracking/dead-letter-list.ts. */
  listDeadLetters(q: DeadLetterQuery): Promise<DeadLetterSummary[]>;
  /** One dead letter with its whole body, left in place (undefined when there is none by that id). */
  getDeadLetter(id: string): Promise<DeadLetterRow | undefined>;
  /**
   * Removes one dead letter and returns it (undefined when there is none by that id): a
   * replay takes it inside its transaction, so a replay that fails leaves it in place and
   * two replays at once cannot both take it.
   */
  takeDeadLetter(id: string): Promise<DeadLetterRow | undefined>;
  /** Which of `keys` exist in the dedupe table. */
  existingKeys(keys: readonly string[]): Promise<Set<string>>;
  /** Which of these normalised hashes the history holds (the third dedupe level). */
  existingHashes(hashes: readonly string[]): Promise<Set<string>>;
  /** Insert-if-absent; resolves to the keys this call inserted. */
  recordKeys(keys: readonly string[], now: number): Promise<Set<string>>;
  /**
   * For each probe, whether history holds an event of that number and status with its time
   * in [from, to], received at or after `since` (the composite dedupe level, within the
   * retention window). Call with the numbers' projection rows locked.
   */
  compositeHits(probes: readonly CompositeProbe[], since: number): Promise<boolean[]>;
  /** The (status, event time) of every history event of these numbers (the leg learner's input: no event JSON parsed). */
  timelines(trackingNumbers: readonly string[]): Promise<Map<string, Array<{ status: TrackingStatus; eventTime: number }>>>;
  /**
   * Removes dedupe keys recorded more than `windowMs` before `now` (retention), never one an
   * inbox row may still need (recorded less than the window and a day of clock skew before
   * the oldest inbox row was received); resolves to how many.
   */
  purgeKeys(now: number, windowMs: number, limit: number): Promise<number>;
  /**
   * Removes raw payloads and dead letters received before `before`, oldest first, at most
   * `limit` of each; resolves to how many. A payload is kept while any inbox row is as old
   * (its events are not applied yet).
   */
  purgeRaw(before: number, limit: number): Promise<number>;
  /** Appends to the history (never updated or deleted); a hash already there is skipped. Resolves to the hashes inserted. */
  appendHistory(entries: readonly HistoryEntry[]): Promise<Set<string>>;
  history(trackingNumber: string): Promise<HistoryRow[]>;
  /** One history row of the number by its hash (a point lookup, whatever the length of its history). */
  historyEntry(trackingNumber: string, hash: string): Promise<HistoryRow | undefined>;
  /** Tracking numbers with history, in order, after `after` (keyset pagination). */
  historyNumbers(after: string | undefined, limit: number): Promise<string[]>;
  /** Tracking numbers with history or any derived row (projection, read model, review flag), in order, after `after`. */
  trackedNumbers(after: string | undefined, limit: number): Promise<string[]>;
  /** Numbers the capital-letters migration left to refold (tracking/refold-pending.ts), in order, after `after`. */
  pendingRefolds(after: string | undefined, limit: number): Promise<string[]>;
  /** Takes a number off that list (in the caller's transaction); false when another instance took it first. */
  takePendingRefold(trackingNumber: string): Promise<boolean>;
  /**
   * The projection row, created empty if absent and LOCKED until the caller's transaction
   * ends (PostgreSQL FOR UPDATE): instances applying events of one tracking number serialise here.
   */
  lockProjection(trackingNumber: string, carrier: string, now: number): Promise<StoredProjection>;
  /** lockProjection for many numbers with two statements (locked in tracking-number order); keyed by number. */
  lockProjections(numbers: ReadonlyArray<{ trackingNumber: string; carrier: string }>, now: number): Promise<Map<string, StoredProjection>>;
  projection(trackingNumber: string): Promise<StoredProjection | undefined>;
  /** saveProjection for many (the caller holds their locks), one statement. */
  saveProjections(ps: readonly TrackingProjection[], now: number): Promise<void>;
  /** putReadModel for many, one statement. */
  putReadModels(rows: ReadonlyArray<{ trackingNumber: string; row: ReadModelRow }>, now: number): Promise<void>;
  /** Which of these numbers some shipment carries (the milestone sink's pre-filter). */
  numbersWithShipments(numbers: readonly string[]): Promise<Set<string>>;
  /** Writes the projection (the caller holds its lock); bumps the version. */
  saveProjection(p: TrackingProjection, now: number): Promise<void>;
  putReadModel(trackingNumber: string, row: ReadModelRow, now: number): Promise<void>;
  readModel(trackingNumber: string): Promise<ReadModelRow | undefined>;
  /** Removes a read model no history backs (the rebuild's repair). */
  deleteReadModel(trackingNumber: string): Promise<void>;
  /** Insert-if-absent per hash. */
  addFlags(trackingNumber: string, flags: readonly Flag[], now: number): Promise<void>;
  /** The review rows of one number become exactly `flags` (after a re-fold). */
  replaceFlags(trackingNumber: string, flags: readonly Flag[], now: number): Promise<void>;
  flags(trackingNumber?: string): Promise<ReviewRow[]>;
}
