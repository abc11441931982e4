import type { TrackingStatus } from '../tracking-event.js';
import type { CarrierErrorCode } from './carrier-tracking-client.js';
import type { PollEntry, PollMode } from './poll-schedule-port.js';

// The hybrid polling policy, pure: functions of (entry, input, now[, random]) returning
// what to do and the next time to look, with the reasons. No clock, no I/O.
//
// Webhooks are primary. A number stays in 'webhook' mode while webhooks keep coming; its
// entry comes due when they would have gone quiet (last webhook, or creation, plus a
// threshold that depends on the status). If by then none arrived, it is promoted to
// 'polling' and polled at a frequency set by its status and ETA (docs/backend.md,
// "Tracking: polling and ETA", has the table). A fresh webhook demotes it again at its next
// due check. Final statuses stop it. Failures back off exponentially with jitter, never
// sooner than the carrier's Retry-After (bounded by the backoff's maximum).

const MIN = 60_000;
const HOUR = 60 * MIN;

export interface StatusTiming {
  /** No webhook for this long → promoted to polling. */
  quietAfterMs: number;
  /** Poll interval while polling. */
  pollEveryMs: number;
}

export interface PollPolicyConfig {
  /** Per status; a status absent here (final ones, or a parcel already in a locker) stops polling. */
  timing: Partial<Record<TrackingStatus, StatusTiming>>;
  /** Before any event is known (label printed, nothing scanned). */
  unknownStatus: StatusTiming;
  /**
   * A number still without any scan, or with nothing after its label scan, this long after
   * its entry was created (or its label scan, whichever is later) is let go (a label never
   * handed to the carrier, a shipment cancelled before pickup): polled daily, it would cost
   * a request a day for ever. A later webhook for it, or a new shipment naming it, re-arms it.
   */
  giveUpUnscannedAfterMs: number;
  /** An ETA this close, ahead or behind (a promise missed by longer is stale), polls at nearEtaPollEveryMs. */
  nearEtaMs: number;
  nearEtaPollEveryMs: number;
  backoff: { baseMs: number; maxMs: number };
  /** Stop after this many consecutive failures (PERMANENT stops at once). */
  maxFailures: number;
}

export const defaultPollPolicy: PollPolicyConfig = {
  timing: {
    label_created: { quietAfterMs: 48 * HOUR, pollEveryMs: 24 * HOUR },
    picked_up: { quietAfterMs: 12 * HOUR, pollEveryMs: 3 * HOUR },
    in_transit: { quietAfterMs: 12 * HOUR, pollEveryMs: 3 * HOUR },
    out_for_delivery: { quietAfterMs: 2 * HOUR, pollEveryMs: 15 * MIN },
    exception: { quietAfterMs: 6 * HOUR, pollEveryMs: 1 * HOUR },
  },
  unknownStatus: { quietAfterMs: 48 * HOUR, pollEveryMs: 24 * HOUR },
  giveUpUnscannedAfterMs: 30 * 24 * HOUR,
  nearEtaMs: 4 * HOUR,
  nearEtaPollEveryMs: 15 * MIN,
  backoff: { baseMs: 1 * MIN, maxMs: 6 * HOUR },
  maxFailures: 12,
};

export type PollReason =
  | 'final_status' // delivered, collected, returned, or in a locker: nothing left to learn from the carrier
  | 'webhooks_active' // a webhook arrived within the quiet threshold
  | 'demoted_by_webhook' // was polling; a webhook arrived since
  | 'promoted_quiet_webhooks' // was webhook-driven; none within the threshold
  | 'polling' // stays polled
  | 'near_eta' // ETA within nearEtaMs of now, either side: frequent polls
  | 'status_interval' // interval from the status table
  | 'backoff' // a failed poll: exponential delay with jitter
  | 'retry_after' // the carrier's Retry-After was longer than the backoff
  | 'permanent_error'
  | 'gave_up' // maxFailures consecutive failures
  | 'never_scanned'; // no scan, or only the label's, giveUpUnscannedAfterMs after the entry or that scan

export type DueAction = 'poll' | 'wait' | 'stop';

export interface PollDecision {
  action: DueAction;
  mode: PollMode;
  /** null: never again until a new event or webhook re-arms the entry. */
  nextPollAt: number | null;
  failures: number;
  reasons: PollReason[];
}

/** What the entry needs from its status; undefined for statuses that are never polled. */
export function timingFor(status: TrackingStatus | null, cfg: PollPolicyConfig = defaultPollPolicy): StatusTiming | undefined {
  return status === null ? cfg.unknownStatus : cfg.timing[status];
}

/** The entry came due: poll it now, or wait (webhooks still flowing), or stop. */
export function decideDue(entry: PollEntry, now: number, cfg: PollPolicyConfig = defaultPollPolicy): PollDecision {
  const timing = timingFor(entry.status, cfg);
  if (timing === undefined) return { action: 'stop', mode: entry.mode, nextPollAt: null, failures: entry.failures, reasons: ['final_status'] };
  if (neverHandedOver(entry, now, cfg)) {
    return { action: 'stop', mode: entry.mode, nextPollAt: null, failures: entry.failures, reasons: ['never_scanned'] };
  }
  const quietSince = Math.max(entry.lastWebhookAt ?? entry.createdAt, entry.createdAt);
  const quietAt = quietSince + timing.quietAfterMs;
  if (now < quietAt) {
    const reasons: PollReason[] = entry.mode === 'polling' ? ['demoted_by_webhook', 'webhooks_active'] : ['webhooks_active'];
    return { action: 'wait', mode: 'webhook', nextPollAt: quietAt, failures: 0, reasons };
  }
  return { action: 'poll', mode: 'polling', nextPollAt: null, failures: entry.failures, reasons: [entry.mode === 'webhook' ? 'promoted_quiet_webhooks' : 'polling'] };
}

/**
 * A label_created number is one the carrier has not received yet, exactly like one with no
 * scan at all: the wait counts from the label scan when it came after the entry (a label
 * printed days after the shipment was recorded), so a fresh label is not given up at once.
 */
function neverHandedOver(entry: PollEntry, now: number, cfg: PollPolicyConfig): boolean {
  if (entry.status === null) return now - entry.createdAt >= cfg.giveUpUnscannedAfterMs;
  if (entry.status !== 'label_created') return false;
  return now - Math.max(entry.createdAt, entry.lastEventAt ?? entry.createdAt) >= cfg.giveUpUnscannedAfterMs;
}

/**
 * News about a number (a webhook, or an event applied from any source) at `at`: the latest
 * moment the policy needs to look at it again, for the schedule's `dueBy` (it only ever
 * brings the next look forward). A webhook: when webhooks would go quiet for the new
 * status (an out-for-delivery webhook shortens the wait from 12 h to 2 h). Another event:
 * the polling cadence of the new status, in case the number is being polled. undefined
 * for a final status (nothing to bring forward).
 */
export function dueAfterNews(
  news: { status: TrackingStatus; etaAt?: number | undefined; at: number; viaWebhook: boolean },
  cfg: PollPolicyConfig = defaultPollPolicy,
): number | undefined {
  const timing = timingFor(news.status, cfg);
  if (timing === undefined) return undefined;
  if (news.viaWebhook) return news.at + timing.quietAfterMs;
  return decideAfterSuccess({ status: news.status, etaAt: news.etaAt ?? null }, news.at, cfg).nextPollAt ?? undefined;
}

/** A poll succeeded: the next one by status and ETA (the status/ETA the poll just saw, if any). */
export function decideAfterSuccess(
  entry: Pick<PollEntry, 'status' | 'etaAt'>,
  now: number,
  cfg: PollPolicyConfig = defaultPollPolicy,
): PollDecision {
  const timing = timingFor(entry.status, cfg);
  if (timing === undefined) return { action: 'stop', mode: 'polling', nextPollAt: null, failures: 0, reasons: ['final_status'] };
  // A promise missed by more than the near window is one the carrier never updated (a stalled
  // parcel): polling every 15 min until a new promise comes would go on for days.
  const nearEta = entry.etaAt !== null && Math.abs(entry.etaAt - now) <= cfg.nearEtaMs;
  const every = nearEta ? Math.min(cfg.nearEtaPollEveryMs, timing.pollEveryMs) : timing.pollEveryMs;
  return { action: 'wait', mode: 'polling', nextPollAt: now + every, failures: 0, reasons: [nearEta ? 'near_eta' : 'status_interval'] };
}

export interface PollFailure {
  code: CarrierErrorCode;
  retryAfterMs?: number | undefined;
}

/**
 * A poll failed. Delay = min(max, base·2^(failures−1)), then "equal jitter": half fixed,
 * half random, so many numbers that failed together (a carrier outage) do not come back in
 * one wave; never sooner than Retry-After. A number the carrier does not know yet
 * (NOT_FOUND: label printed, no scan) is not retried sooner than its status interval
 * either: asking again in a minute would only spend the carrier's budget. `random` is in [0, 1).
 */
export function decideAfterFailure(
  entry: Pick<PollEntry, 'failures' | 'status'>,
  failure: PollFailure,
  now: number,
  random: number,
  cfg: PollPolicyConfig = defaultPollPolicy,
): PollDecision {
  const failures = entry.failures + 1;
  if (failure.code === 'PERMANENT') return { action: 'stop', mode: 'polling', nextPollAt: null, failures, reasons: ['permanent_error'] };
  if (failures >= cfg.maxFailures) return { action: 'stop', mode: 'polling', nextPollAt: null, failures, reasons: ['gave_up'] };
  const delay = backoffMs(failures, random, cfg);
  const interval = failure.code === 'NOT_FOUND' ? (timingFor(entry.status, cfg)?.pollEveryMs ?? 0) : 0;
  if (interval > delay) return { action: 'wait', mode: 'polling', nextPollAt: now + interval, failures, reasons: ['backoff', 'status_interval'] };
  const retryAfter = boundedRetryAfterMs(failure.retryAfterMs, cfg) ?? 0;
  if (retryAfter > delay) return { action: 'wait', mode: 'polling', nextPollAt: now + retryAfter, failures, reasons: ['backoff', 'retry_after'] };
  return { action: 'wait', mode: 'polling', nextPollAt: now + delay, failures, reasons: ['backoff'] };
}

/**
 * The carrier's Retry-After as we honour it: at most backoff.maxMs, the longest we ever
 * wait between two attempts anyway. Unbounded, one bad header (3650 days, a far-future
 * date) would park the number and, through the shared bucket, the whole carrier for every
 * instance; a carrier still not ready after 6 h just says so again, at the cost of one
 * request. Negative or non-finite: ignored (undefined).
 */
export function boundedRetryAfterMs(retryAfterMs: number | undefined, cfg: PollPolicyConfig = defaultPollPolicy): number | undefined {
  if (retryAfterMs === undefined || !Number.isFinite(retryAfterMs) || retryAfterMs < 0) return undefined;
  return Math.min(retryAfterMs, cfg.backoff.maxMs);
}

/** The backoff delay after the `failures`-th consecutive failure (≥ 1). */
export function backoffMs(failures: number, random: number, cfg: PollPolicyConfig = defaultPollPolicy): number {
  const r = Math.min(Math.max(random, 0), 1);
  const full = Math.min(cfg.backoff.maxMs, cfg.backoff.baseMs * 2 ** Math.max(0, failures - 1));
  return Math.round(full / 2 + (full / 2) * r);
}
