import type { NotificationRecord } from '../records.js';
import type { NotificationRepository } from '../store.js';
import { readJson } from './json-column.js';
import { JsonObject, StoredCustomer } from './stored-schemas.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// The notification outbox (rows are written by state transitions, see orders/order-transitions.ts).
// Dispatchers on several instances claim due rows with a lease before sending, so a
// notification is sent by one of them; a dispatcher that dies mid-send lets its lease
// lapse and the row is sent again later (at least once, never lost).

interface NotificationRow {
  id: string;
  dedupe_key: string;
  kind: string;
  recipient_json: string;
  payload_json: string;
  state: NotificationRecord['state'];
  attempts: number;
  next_attempt_at: number;
  created_at: number;
}

function notificationOf(r: NotificationRow): NotificationRecord {
  return {
    id: r.id,
    dedupeKey: r.dedupe_key,
    kind: r.kind,
    recipient: readJson(StoredCustomer, r.recipient_json, { table: 'notifications', column: 'recipient_json', key: { id: r.id } }),
    payload: readJson(JsonObject, r.payload_json, { table: 'notifications', column: 'payload_json', key: { id: r.id } }),
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    createdAt: r.created_at,
  };
}

const COLUMNS = 'id, dedupe_key, kind, recipient_json, payload_json, state, attempts, next_attempt_at, created_at';

const enqueue = sql(
  `INSERT INTO notifications (id, dedupe_key, kind, recipient_json, payload_json, state, attempts, next_attempt_at, created_at)
   VALUES (@id, @dedupeKey, @kind, @recipient, @payload, 'pending', 0, @next, @createdAt) ON CONFLICT (dedupe_key) DO NOTHING`,
);
// Pending, due, and not leased by a live claim (see RefundRepository.claimPending).
const DUE_PICK = `SELECT id FROM notifications
   WHERE state = 'pending' AND next_attempt_at <= @now AND (lease_until IS NULL OR lease_until <= @now)
   ORDER BY next_attempt_at, id LIMIT @limit`;
const claimDue = sqlPer({
  sqlite: `UPDATE notifications SET lease_until = @until WHERE id IN (${DUE_PICK}) RETURNING ${COLUMNS}`,
  postgres: `UPDATE notifications SET lease_until = @until WHERE id IN (${DUE_PICK} FOR UPDATE SKIP LOCKED) RETURNING ${COLUMNS}`,
});
// Both outcomes end the lease. Sending replaces the payload with its redacted copy: the
// code in it existed in the database only until it was handed to the channels.
const markSent = sql(`UPDATE notifications SET state = 'sent', sent_at = ?, payload_json = ?, lease_until = NULL WHERE id = ? AND state = 'pending'`);
const markFailed = sql(
  `UPDATE notifications SET attempts = @attempts, next_attempt_at = @next, last_error = @error, state = @state, lease_until = NULL
    WHERE id = @id AND state = 'pending'`,
);
const all = sql(`SELECT ${COLUMNS} FROM notifications ORDER BY created_at, id`);
const byKind = sql(`SELECT ${COLUMNS} FROM notifications WHERE kind = ? ORDER BY created_at, id`);
const backlog = sql(`SELECT count(*) AS n FROM notifications WHERE state = 'pending'`);
// The partial index notifications_finished, oldest first; several instances purge at once
// on PostgreSQL, each taking rows the others have not locked.
const FINISHED = `state <> 'pending' AND created_at < ?`;
const purgeFinished = sqlPer({
  sqlite: `DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE ${FINISHED} ORDER BY created_at LIMIT ?)`,
  postgres: `DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE ${FINISHED} ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)`,
});

const dueFirst = (a: NotificationRecord, b: NotificationRecord): number => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class SqlNotificationRepository implements NotificationRepository {
  constructor(private readonly x: SqlExecutor) {}

  async enqueue(n: NotificationRecord): Promise<boolean> {
    const changed = await this.x.run(enqueue, {
      id: n.id,
      dedupeKey: n.dedupeKey,
      kind: n.kind,
      recipient: JSON.stringify(n.recipient),
      payload: JSON.stringify(n.payload),
      next: n.nextAttemptAt,
      createdAt: n.createdAt,
    });
    return changed === 1;
  }

  async claimDue(now: number, leaseMs: number, limit: number): Promise<NotificationRecord[]> {
    // RETURNING promises no order: put the claimed rows back in due order.
    return (await this.x.all<NotificationRow>(claimDue, { now, until: now + leaseMs, limit })).map(notificationOf).sort(dueFirst);
  }

  async markSent(id: string, at: number, redactedPayload: Record<string, unknown>): Promise<void> {
    await this.x.run(markSent, [at, JSON.stringify(redactedPayload), id]);
  }

  async markFailedAttempt(id: string, attempts: number, nextAttemptAt: number, error: string, giveUp: boolean): Promise<void> {
    await this.x.run(markFailed, { id, attempts, next: nextAttemptAt, error, state: giveUp ? 'failed' : 'pending' });
  }

  async list(filter?: { kind?: string }): Promise<NotificationRecord[]> {
    const rows = filter?.kind !== undefined ? await this.x.all<NotificationRow>(byKind, [filter.kind]) : await this.x.all<NotificationRow>(all);
    return rows.map(notificationOf);
  }

  async backlog(): Promise<number> {
    return (await this.x.one<{ n: number }>(backlog))?.n ?? 0;
  }

  purgeFinished(before: number, limit: number): Promise<number> {
    return this.x.run(purgeFinished, [before, limit]);
  }
}
