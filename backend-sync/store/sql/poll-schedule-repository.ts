import type { PollSchedule, PollScheduleEntry } from '../../tracking/poll-schedule.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// The poll schedule (tracking/poll-schedule.ts) over SqlExecutor. Due rows are leased with
// one statement that returns them, as the outbox does (SKIP LOCKED on PostgreSQL).

interface Row {
  tracking_number: string;
  carrier: string;
  last_event_at: number | null;
  last_webhook_at: number | null;
  next_poll_at: number;
  failures: number;
}

const COLS = 'tracking_number, carrier, last_event_at, last_webhook_at, next_poll_at, failures';
const entry = (r: Row): PollScheduleEntry => ({
  trackingNumber: r.tracking_number,
  carrier: r.carrier,
  lastEventAt: r.last_event_at ?? undefined,
  lastWebhookAt: r.last_webhook_at ?? undefined,
  nextPollAt: r.next_poll_at,
  failures: r.failures,
});

const ensure = sql(`INSERT INTO tracking_poll_schedule (tracking_number, carrier, next_poll_at, failures) VALUES (?, ?, ?, 0) ON CONFLICT (tracking_number) DO NOTHING`);
const get = sql(`SELECT ${COLS} FROM tracking_poll_schedule WHERE tracking_number = ?`);
const DUE = `SELECT tracking_number FROM tracking_poll_schedule
   WHERE next_poll_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
   ORDER BY next_poll_at, tracking_number LIMIT @limit`;
const claimDue = sqlPer({
  sqlite: `UPDATE tracking_poll_schedule SET lease_until = @until WHERE tracking_number IN (${DUE}) RETURNING ${COLS}`,
  postgres: `UPDATE tracking_poll_schedule SET lease_until = @until WHERE tracking_number IN (${DUE} FOR UPDATE SKIP LOCKED) RETURNING ${COLS}`,
});
const reschedule = sqlPer({
  sqlite: `UPDATE tracking_poll_schedule SET next_poll_at = @next, failures = @failures, lease_until = NULL,
             last_event_at = max(coalesce(last_event_at, @lastEventAt), coalesce(@lastEventAt, last_event_at))
           WHERE tracking_number = @tn`,
  postgres: `UPDATE tracking_poll_schedule SET next_poll_at = @next, failures = @failures, lease_until = NULL,
             last_event_at = greatest(last_event_at, @lastEventAt::bigint)
           WHERE tracking_number = @tn`,
});
const noteWebhook = sqlPer({
  sqlite: `UPDATE tracking_poll_schedule SET last_webhook_at = max(coalesce(last_webhook_at, @at), @at) WHERE tracking_number = @tn`,
  postgres: `UPDATE tracking_poll_schedule SET last_webhook_at = greatest(last_webhook_at, @at::bigint) WHERE tracking_number = @tn`,
});
const noteWebhooks = sqlPer({
  sqlite: `UPDATE tracking_poll_schedule SET last_webhook_at = max(coalesce(last_webhook_at, @at), @at) WHERE tracking_number IN (SELECT value FROM json_each(@tns))`,
  postgres: `UPDATE tracking_poll_schedule SET last_webhook_at = greatest(last_webhook_at, @at::bigint) WHERE tracking_number IN (SELECT json_array_elements_text(@tns::json))`,
});
const remove = sql(`DELETE FROM tracking_poll_schedule WHERE tracking_number = ?`);

export class SqlPollSchedule implements PollSchedule {
  constructor(private readonly x: SqlExecutor) {}

  async ensure(e: { trackingNumber: string; carrier: string; nextPollAt: number }): Promise<boolean> {
    return (await this.x.run(ensure, [e.trackingNumber, e.carrier, e.nextPollAt])) > 0;
  }

  async get(trackingNumber: string): Promise<PollScheduleEntry | undefined> {
    const r = await this.x.one<Row>(get, [trackingNumber]);
    return r === undefined ? undefined : entry(r);
  }

  async claimDue(now: number, limit: number, leaseMs: number): Promise<PollScheduleEntry[]> {
    const rows = await this.x.all<Row>(claimDue, { now, limit, until: now + leaseMs });
    return rows.map(entry).sort((a, b) => a.nextPollAt - b.nextPollAt || (a.trackingNumber < b.trackingNumber ? -1 : 1));
  }

  async reschedule(trackingNumber: string, r: { nextPollAt: number; failures: number; lastEventAt?: number | undefined }): Promise<boolean> {
    return (await this.x.run(reschedule, { tn: trackingNumber, next: r.nextPollAt, failures: r.failures, lastEventAt: r.lastEventAt ?? null })) > 0;
  }

  async noteWebhook(trackingNumber: string, at: number): Promise<boolean> {
    return (await this.x.run(noteWebhook, { tn: trackingNumber, at })) > 0;
  }

  async noteWebhooks(trackingNumbers: readonly string[], at: number): Promise<number> {
    return trackingNumbers.length === 0 ? 0 : this.x.run(noteWebhooks, { tns: JSON.stringify(trackingNumbers), at });
  }

  async remove(trackingNumber: string): Promise<boolean> {
    return (await this.x.run(remove, [trackingNumber])) > 0;
  }
}
