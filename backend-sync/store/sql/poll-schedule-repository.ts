import { z } from 'zod';
import type { PollEntry, PollNote, PollReschedule, PollSchedulePort } from '../../tracking/polling/poll-schedule-port.js';
import { TrackingStatus, type TrackingStatus as Status } from '../../tracking/tracking-event.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// The poll schedule (tracking/polling/poll-schedule-port.ts) over SqlExecutor, one row per
// tracking number in tracking_poll_schedule. Due rows are leased with one statement that
// returns them (SKIP LOCKED on PostgreSQL), and a reschedule is fenced by the lease it was
// claimed with. News never pushes the next look later: next_poll_at becomes the smaller of
// itself and dueBy, or the re-arm time when the entry had stopped (NULL).

interface Row {
  tracking_number: string;
  carrier: string;
  status: string | null;
  eta_at: number | null;
  last_event_at: number | null;
  last_webhook_at: number | null;
  created_at: number;
  mode: string;
  next_poll_at: number | null;
  failures: number;
  lease_until: number | null;
}

const StoredStatus = TrackingStatus.nullable();
const StoredMode = z.enum(['webhook', 'polling']);
const num = (v: number | bigint | string | null): number | null => (v === null ? null : Number(v));

const entry = (r: Row): PollEntry => ({
  trackingNumber: r.tracking_number,
  carrier: r.carrier,
  status: StoredStatus.parse(r.status),
  etaAt: num(r.eta_at),
  lastEventAt: num(r.last_event_at),
  lastWebhookAt: num(r.last_webhook_at),
  createdAt: Number(r.created_at),
  mode: StoredMode.parse(r.mode),
  nextPollAt: num(r.next_poll_at),
  failures: r.failures,
  leaseUntil: num(r.lease_until),
});

const COLS = 'tracking_number, carrier, status, eta_at, last_event_at, last_webhook_at, created_at, mode, next_poll_at, failures, lease_until';
const DUE = `SELECT tracking_number FROM tracking_poll_schedule
   WHERE next_poll_at IS NOT NULL AND next_poll_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
   ORDER BY next_poll_at, tracking_number LIMIT @limit`;
const claimDue = sqlPer({
  sqlite: `UPDATE tracking_poll_schedule SET lease_until = @until WHERE tracking_number IN (${DUE}) RETURNING ${COLS}`,
  postgres: `UPDATE tracking_poll_schedule SET lease_until = @until WHERE tracking_number IN (${DUE} FOR UPDATE SKIP LOCKED) RETURNING ${COLS}`,
});
const reschedule = sqlPer({
  sqlite: `UPDATE tracking_poll_schedule SET next_poll_at = @next, failures = @failures, mode = @mode,
             status = coalesce(@status, status), eta_at = coalesce(@eta, eta_at), lease_until = NULL
           WHERE tracking_number = @tn AND lease_until = @claimed`,
  postgres: `UPDATE tracking_poll_schedule SET next_poll_at = @next::bigint, failures = @failures, mode = @mode,
             status = coalesce(@status::text, status), eta_at = coalesce(@eta::bigint, eta_at), lease_until = NULL
           WHERE tracking_number = @tn AND lease_until = @claimed::bigint`,
});
const get = sql(`SELECT ${COLS} FROM tracking_poll_schedule WHERE tracking_number = ?`);

// The re-arm rule: a stopped entry (NULL) is due again at `rearm` with its failures reset
// (a webhook: the carrier speaks of the number again); a scheduled one only moves earlier,
// to `due`. An applied event alone (a poll's or a locker's) leaves a stopped entry stopped:
// a poll answered after its shipment was cancelled (withdrawn meanwhile) would otherwise
// have the number polled again (NULL as `rearm`).
const NEXT = (p: string, rearm: string, due: string): string =>
  `CASE WHEN ${p}.next_poll_at IS NULL THEN ${rearm} WHEN ${due} IS NOT NULL AND ${due} < ${p}.next_poll_at THEN ${due} ELSE ${p}.next_poll_at END`;
const FAILURES = (p: string): string => `CASE WHEN ${p}.next_poll_at IS NULL THEN 0 ELSE ${p}.failures END`;

// SQLite: one upsert per note (runEach). PostgreSQL: one statement per batch; ON CONFLICT
// DO UPDATE cannot see the note's dueBy (only the row it would have inserted), so new rows
// are inserted (DO NOTHING) and existing ones updated from the same JSON. The applier calls
// this with the numbers' projection rows locked, so no other instance inserts them meanwhile.
const noteWebhook = sqlPer({
  sqlite: `INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, last_webhook_at, created_at, mode, next_poll_at, failures)
           VALUES (@tn, @carrier, @status, @at, @at, 'webhook', coalesce(@due, @at), 0)
           ON CONFLICT (tracking_number) DO UPDATE SET
             carrier = @carrier, last_webhook_at = max(coalesce(tracking_poll_schedule.last_webhook_at, @at), @at), status = @status,
             next_poll_at = ${NEXT('tracking_poll_schedule', 'coalesce(@due, @at)', '@due')}, failures = ${FAILURES('tracking_poll_schedule')}`,
  postgres: `WITH src AS (SELECT x->>'t' AS tn, x->>'c' AS carrier, x->>'s' AS status, (x->>'at')::bigint AS at, (x->>'due')::bigint AS due
                        FROM json_array_elements(@rows::json) AS a(x)),
           ins AS (INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, last_webhook_at, created_at, mode, next_poll_at, failures)
                   SELECT tn, carrier, status, at, at, 'webhook', coalesce(due, at), 0 FROM src
                   ON CONFLICT (tracking_number) DO NOTHING RETURNING tracking_number)
           UPDATE tracking_poll_schedule AS p SET
             carrier = src.carrier, last_webhook_at = greatest(p.last_webhook_at, src.at), status = src.status,
             next_poll_at = ${NEXT('p', 'coalesce(src.due, src.at)', 'src.due')}, failures = ${FAILURES('p')}
           FROM src WHERE p.tracking_number = src.tn AND src.tn NOT IN (SELECT tracking_number FROM ins)`,
});
const noteEvent = sqlPer({
  sqlite: `INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, eta_at, last_event_at, created_at, mode, next_poll_at, failures)
           VALUES (@tn, @carrier, @status, @eta, @eventAt, @now, 'webhook', coalesce(@due, @now), 0)
           ON CONFLICT (tracking_number) DO UPDATE SET
             carrier = @carrier, status = @status, eta_at = coalesce(@eta, tracking_poll_schedule.eta_at),
             last_event_at = max(coalesce(tracking_poll_schedule.last_event_at, @eventAt), @eventAt),
             next_poll_at = ${NEXT('tracking_poll_schedule', 'NULL', '@due')}`,
  postgres: `WITH src AS (SELECT x->>'t' AS tn, x->>'c' AS carrier, x->>'s' AS status, (x->>'eta')::bigint AS eta, (x->>'ev')::bigint AS ev,
                               (x->>'now')::bigint AS now, (x->>'due')::bigint AS due
                        FROM json_array_elements(@rows::json) AS a(x)),
           ins AS (INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, eta_at, last_event_at, created_at, mode, next_poll_at, failures)
                   SELECT tn, carrier, status, eta, ev, now, 'webhook', coalesce(due, now), 0 FROM src
                   ON CONFLICT (tracking_number) DO NOTHING RETURNING tracking_number)
           UPDATE tracking_poll_schedule AS p SET
             carrier = src.carrier, status = src.status, eta_at = coalesce(src.eta, p.eta_at), last_event_at = greatest(p.last_event_at, src.ev),
             next_poll_at = ${NEXT('p', 'NULL', 'src.due')}
           FROM src WHERE p.tracking_number = src.tn AND src.tn NOT IN (SELECT tracking_number FROM ins)`,
});

// A shipment's number: a new entry, or (restart) the old parcel's entry made new.
const ENROLL_RESET = `carrier = excluded.carrier, status = NULL, eta_at = NULL, last_event_at = NULL, last_webhook_at = NULL,
  created_at = excluded.created_at, mode = 'webhook', next_poll_at = excluded.next_poll_at, failures = 0, lease_until = NULL`;
const enroll = sqlPer({
  sqlite: `INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, created_at, mode, next_poll_at, failures)
           VALUES (@tn, @carrier, NULL, @at, 'webhook', @due, 0)
           ON CONFLICT (tracking_number) DO UPDATE SET ${ENROLL_RESET} WHERE @restart = 1`,
  postgres: `INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, created_at, mode, next_poll_at, failures)
           VALUES (@tn, @carrier, NULL, @at::bigint, 'webhook', @due::bigint, 0)
           ON CONFLICT (tracking_number) DO UPDATE SET ${ENROLL_RESET} WHERE @restart::int = 1`,
});

const withdraw = sql(`UPDATE tracking_poll_schedule SET next_poll_at = NULL, failures = 0, lease_until = NULL WHERE tracking_number = ?`);

// A stopped entry a new shipment names is due again (its facts kept: a final status is
// stopped again when it comes due, without a carrier request). One never scanned counts its
// quiet time from now: from its old creation the policy would give it up at once.
const rearm = sql(
  `UPDATE tracking_poll_schedule SET next_poll_at = @due, failures = 0, created_at = CASE WHEN status IS NULL THEN @at ELSE created_at END
    WHERE tracking_number = @tn AND next_poll_at IS NULL`,
);

export class SqlPollSchedule implements PollSchedulePort {
  constructor(private readonly x: SqlExecutor) {}

  async claimDue(now: number, limit: number, leaseMs: number): Promise<PollEntry[]> {
    const rows = await this.x.all<Row>(claimDue, { now, limit, until: now + leaseMs });
    return rows.map(entry).sort((a, b) => (a.nextPollAt ?? 0) - (b.nextPollAt ?? 0) || (a.trackingNumber < b.trackingNumber ? -1 : 1));
  }

  async reschedule(trackingNumber: string, claimedLeaseUntil: number, next: PollReschedule): Promise<boolean> {
    const changed = await this.x.run(reschedule, {
      tn: trackingNumber,
      claimed: claimedLeaseUntil,
      next: next.nextPollAt,
      failures: next.failures,
      mode: next.mode,
      status: next.status ?? null,
      eta: next.etaAt ?? null,
    });
    return changed > 0;
  }

  noteWebhook(trackingNumber: string, carrier: string, at: number, status: Status, dueBy?: number): Promise<void> {
    return this.noteNews([{ trackingNumber, carrier, status, webhookAt: at, eventAt: undefined, at, dueByWebhook: dueBy }]);
  }

  noteEvent(fact: { trackingNumber: string; carrier: string; status: Status; eventAt: number; etaAt?: number | undefined }, now: number, dueBy?: number): Promise<void> {
    return this.noteNews([{ trackingNumber: fact.trackingNumber, carrier: fact.carrier, status: fact.status, eventAt: fact.eventAt, etaAt: fact.etaAt, at: now, dueByEvent: dueBy }]);
  }

  async noteNews(notes: readonly PollNote[]): Promise<void> {
    if (notes.length === 0) return;
    const webhooks = notes.filter((n) => n.webhookAt !== undefined);
    const events = notes.filter((n) => n.eventAt !== undefined);
    if (this.x.engine === 'sqlite') {
      await this.x.runEach(
        noteWebhook,
        webhooks.map((n) => ({ tn: n.trackingNumber, carrier: n.carrier, status: n.status, at: n.webhookAt ?? n.at, due: n.dueByWebhook ?? null })),
      );
      await this.x.runEach(
        noteEvent,
        events.map((n) => ({ tn: n.trackingNumber, carrier: n.carrier, status: n.status, eta: n.etaAt ?? null, eventAt: n.eventAt ?? null, now: n.at, due: n.dueByEvent ?? null })),
      );
      return;
    }
    // One statement per kind; ON CONFLICT may touch a row once per statement, so one note per number.
    if (webhooks.length > 0) {
      await this.x.run(noteWebhook, { rows: JSON.stringify(webhooks.map((n) => ({ t: n.trackingNumber, c: n.carrier, s: n.status, at: n.webhookAt, due: n.dueByWebhook ?? null }))) });
    }
    if (events.length > 0) {
      await this.x.run(noteEvent, { rows: JSON.stringify(events.map((n) => ({ t: n.trackingNumber, c: n.carrier, s: n.status, eta: n.etaAt ?? null, ev: n.eventAt, now: n.at, due: n.dueByEvent ?? null }))) });
    }
  }

  async enroll(e: { trackingNumber: string; carrier: string; at: number; dueBy: number; restart: boolean }): Promise<void> {
    await this.x.run(enroll, { tn: e.trackingNumber, carrier: e.carrier, at: e.at, due: e.dueBy, restart: e.restart ? 1 : 0 });
    await this.x.run(rearm, { tn: e.trackingNumber, due: e.dueBy, at: e.at });
  }

  async withdraw(trackingNumber: string): Promise<void> {
    await this.x.run(withdraw, [trackingNumber]);
  }

  /** One entry as stored (diagnostics and tests). */
  async get(trackingNumber: string): Promise<PollEntry | undefined> {
    const r = await this.x.one<Row>(get, [trackingNumber]);
    return r === undefined ? undefined : entry(r);
  }
}
