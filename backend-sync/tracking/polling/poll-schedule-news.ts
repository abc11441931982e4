import type { TrackingSource, TrackingStatus } from '../tracking-event.js';
import { defaultPollPolicy, dueAfterNews, type PollPolicyConfig } from './hybrid-poll-policy.js';
import type { PollNote, PollSchedulePort } from './poll-schedule-port.js';

// The one call the tracking core's applier makes after applying a carrier event, so the
// poll schedule follows the shipment: it records the webhook (for webhook sources) and the
// event, and brings the next look forward when the news calls for it (dueAfterNews). Polled
// and locker events are events, not webhooks: they never hold polling off.

/** Sources that count as the carrier's webhooks (quietness is measured between them). */
export const webhookSources: ReadonlySet<TrackingSource> = new Set<TrackingSource>(['easypost', 'aftership', 'canonical']);

export interface TrackingNews {
  trackingNumber: string;
  carrier: string;
  source: TrackingSource;
  /** The projected status after the event was applied. */
  status: TrackingStatus;
  /** The event's time (carrier scan time). */
  eventAt: number;
  /** When we received it (intake receive time). */
  receivedAt: number;
  etaAt?: number | undefined;
}

/** What one number's news means for its schedule entry (dueBy from the hybrid policy). */
export function pollNoteOf(news: TrackingNews, cfg: PollPolicyConfig = defaultPollPolicy): PollNote {
  const viaWebhook = webhookSources.has(news.source);
  const at = news.receivedAt;
  return {
    trackingNumber: news.trackingNumber,
    carrier: news.carrier,
    status: news.status,
    at,
    ...(viaWebhook ? { webhookAt: at, dueByWebhook: dueAfterNews({ status: news.status, at, viaWebhook: true }, cfg) } : {}),
    eventAt: news.eventAt,
    etaAt: news.etaAt,
    dueByEvent: dueAfterNews({ status: news.status, etaAt: news.etaAt, at, viaWebhook }, cfg),
  };
}

export function notePollNews(schedule: PollSchedulePort, news: TrackingNews, cfg: PollPolicyConfig = defaultPollPolicy): Promise<void> {
  return schedule.noteNews([pollNoteOf(news, cfg)]);
}

/** One note per number for a whole applied batch: the schedule writes them in one go. */
export function notePollNewsBatch(schedule: PollSchedulePort, news: readonly TrackingNews[], cfg: PollPolicyConfig = defaultPollPolicy): Promise<void> {
  return schedule.noteNews(news.map((n) => pollNoteOf(n, cfg)));
}
