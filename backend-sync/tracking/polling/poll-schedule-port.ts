import type { TrackingStatus } from '../tracking-event.js';

// What the poller needs from the poll schedule (one row per tracking number), and nothing
// more. The store's SQL implementation (tracking_poll_schedule, tracking core) and the
// in-memory one here (tests) both satisfy it.
//
// The schedule is dumb storage: it records facts (last status, last event, last webhook)
// and the next time the poller should look at a number; the hybrid policy
// (hybrid-poll-policy.ts) decides everything else when the entry comes due. News (a
// webhook, an applied event) may only pull the next look earlier (`dueBy`, computed by the
// policy: see poll-schedule-news.ts, the one call the applier makes), never push it later:
// when the entry comes due the policy sees the fresh webhook and reschedules without
// fetching (demotion costs one claim, no carrier request). That keeps the SQL side free of
// policy: next_poll_at = LEAST(next_poll_at, $dueBy), or $dueBy when it was NULL.
//
// The SQL implementation is store/sql/poll-schedule-repository.ts (tracking_poll_schedule):
// next_poll_at NULL means "never again" (final status, or a permanent carrier error) until
// a new event arrives.

export type PollMode = 'webhook' | 'polling';

export interface PollEntry {
  trackingNumber: string;
  carrier: string;
  /** The shipment's current (projected) status; null until a first event is known. */
  status: TrackingStatus | null;
  /** Best delivery estimate (carrier promise or our ETA), epoch ms. */
  etaAt: number | null;
  /** Event time of the newest event applied from any source. */
  lastEventAt: number | null;
  /** Receive time of the newest webhook for this number. */
  lastWebhookAt: number | null;
  /** When the entry was first noted: quietness is measured from here until a webhook arrives. */
  createdAt: number;
  mode: PollMode;
  /** null: not scheduled (final status, or gave up). */
  nextPollAt: number | null;
  /** Consecutive failed polls (backoff exponent); 0 after a success. */
  failures: number;
  /** Set while a poller holds the entry; also the claim's fencing token (see reschedule). */
  leaseUntil: number | null;
}

export interface PollFact {
  trackingNumber: string;
  carrier: string;
  status: TrackingStatus;
  /** The status's event time (carrier scan time). */
  eventAt: number;
  etaAt?: number | undefined;
}

export interface PollReschedule {
  nextPollAt: number | null;
  failures: number;
  mode: PollMode;
  /** Keeps the stored status/ETA in step with what a poll just saw (the applier's noteEvent may lag). */
  status?: TrackingStatus | undefined;
  etaAt?: number | undefined;
}

/**
 * News for one number, as the applier has it after a batch: a webhook (its receive time),
 * an applied event (its event time), or both. noteNews(notes) does, for each note,
 * noteWebhook when webhookAt is set and then noteEvent when eventAt is set.
 */
export interface PollNote {
  trackingNumber: string;
  carrier: string;
  /** The projected status after the news. */
  status: TrackingStatus;
  /** When the news was received (noteEvent's `now`). */
  at: number;
  webhookAt?: number | undefined;
  dueByWebhook?: number | undefined;
  eventAt?: number | undefined;
  etaAt?: number | undefined;
  dueByEvent?: number | undefined;
}

export interface PollSchedulePort {
  /**
   * Takes up to `limit` entries with nextPollAt ≤ now whose lease is free (null or
   * ≤ now), oldest nextPollAt first, and sets their leaseUntil = now + leaseMs in the same
   * atomic step (SQL: UPDATE … WHERE tracking_number IN (SELECT … FOR UPDATE SKIP LOCKED)
   * RETURNING …), so two instances never hold one number at once while both are alive.
   */
  claimDue(now: number, limit: number, leaseMs: number): Promise<PollEntry[]>;
  /**
   * Writes the outcome of a claim and frees its lease, only if the entry is still held under
   * `claimedLeaseUntil` (the value claimDue returned): a poller whose lease ran out and was
   * taken over must not overwrite the new holder's schedule. Resolves false when skipped.
   */
  reschedule(trackingNumber: string, claimedLeaseUntil: number, next: PollReschedule): Promise<boolean>;
  /**
   * A webhook for the number was received at `at` (receive time), with the projected status.
   * Creates the entry if new (due at `dueBy ?? at`); re-arms a stopped one the same way
   * (failures 0); otherwise nextPollAt = min(nextPollAt, dueBy). The carrier becomes the
   * news's (an entry a shipment enrolled names the merchant's spelling until scans come).
   */
  noteWebhook(trackingNumber: string, carrier: string, at: number, status: TrackingStatus, dueBy?: number): Promise<void>;
  /**
   * An event was applied (any source); `fact.status` is the projected status after it.
   * Keeps the newest lastEventAt. Creates the entry if new, due at `dueBy ?? now`; leaves a
   * stopped one stopped (only a webhook, or a shipment's enrolment, re-arms: a poll answered
   * after its number was withdrawn must not start it again); otherwise nextPollAt =
   * min(nextPollAt, dueBy). A final status is recorded like any other: when the entry comes
   * due the policy stops it.
   */
  noteEvent(fact: PollFact, now: number, dueBy?: number): Promise<void>;
  /** Many numbers' news at once, one note per number (the applier, once per batch). */
  noteNews(notes: readonly PollNote[]): Promise<void>;
  /**
   * A shipment was created for the number: it is covered from now on, even if no webhook
   * ever comes for it. Creates the entry if new (no status yet, created at `at`, due at
   * `dueBy`); a scheduled entry is left as it is, a stopped one (withdrawn, given up, or at
   * a final status) is due again at `dueBy` with its facts kept (the policy stops a final
   * status again without a carrier request); `restart` (the number's old parcel went silent
   * long ago: a carrier's recycled number) makes an entry a new one the same way.
   */
  enroll(e: { trackingNumber: string; carrier: string; at: number; dueBy: number; restart: boolean }): Promise<void>;
  /**
   * No shipment waits for the number's scans any more (the last one was cancelled before it
   * left): the entry stops (nextPollAt null, failures 0) and its lease is freed, so a poll in
   * flight cannot reschedule it. News re-arms it as it does any stopped entry (a parcel
   * that moves anyway is worth watching). No entry: nothing to do.
   */
  withdraw(trackingNumber: string): Promise<void>;
  /**
   * One entry as stored, or undefined. The poller reads it back before handing a poll's
   * answer to the intake: an entry whose lease is no longer the one it claimed with was
   * withdrawn or taken over meanwhile, and its events must not reach the applier (whose news
   * would re-arm a withdrawn entry). The in-memory schedule answers synchronously (tests read
   * it directly), the SQL one asynchronously: callers await either.
   */
  get(trackingNumber: string): PollEntry | undefined | Promise<PollEntry | undefined>;
}
