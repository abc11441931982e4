import type { Customer, NotificationRecord } from '../records.js';
import type { NotificationRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// The notification outbox (rows are written by state transitions, see orders/order-transitions.ts).

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

const notificationOf = (r: NotificationRow): NotificationRecord => ({
  id: r.id,
  dedupeKey: r.dedupe_key,
  kind: r.kind,
  recipient: JSON.parse(r.recipient_json) as Customer,
  payload: JSON.parse(r.payload_json) as Record<string, unknown>,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  createdAt: r.created_at,
});

export class SqliteNotificationRepository implements NotificationRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      enqueue: db.prepare(
        `INSERT INTO notifications (id, dedupe_key, kind, recipient_json, payload_json, state, attempts, next_attempt_at, created_at)
         VALUES (@id, @dedupeKey, @kind, @recipient, @payload, 'pending', 0, @next, @createdAt) ON CONFLICT (dedupe_key) DO NOTHING`,
      ),
      due: db.prepare<[number, number], NotificationRow>(`SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`),
      sent: db.prepare<[number, string, string]>(`UPDATE notifications SET state = 'sent', sent_at = ?, payload_json = ? WHERE id = ? AND state = 'pending'`),
      failed: db.prepare<{ id: string; attempts: number; next: number; error: string; state: string }>(
        `UPDATE notifications SET attempts = @attempts, next_attempt_at = @next, last_error = @error, state = @state WHERE id = @id AND state = 'pending'`,
      ),
      all: db.prepare<[], NotificationRow>('SELECT * FROM notifications ORDER BY created_at, id'),
      backlog: db.prepare<[], { n: number }>(`SELECT count(*) AS n FROM notifications WHERE state = 'pending'`),
      byKind: db.prepare<[string], NotificationRow>('SELECT * FROM notifications WHERE kind = ? ORDER BY created_at, id'),
    };
  }
  enqueue(n: NotificationRecord): boolean {
    return (
      this.s.enqueue.run({ id: n.id, dedupeKey: n.dedupeKey, kind: n.kind, recipient: JSON.stringify(n.recipient), payload: JSON.stringify(n.payload), next: n.nextAttemptAt, createdAt: n.createdAt })
        .changes === 1
    );
  }
  due(now: number, limit: number): NotificationRecord[] {
    return this.s.due.all(now, limit).map(notificationOf);
  }
  markSent(id: string, at: number, redactedPayload: Record<string, unknown>): void {
    this.s.sent.run(at, JSON.stringify(redactedPayload), id);
  }
  markFailedAttempt(id: string, attempts: number, nextAttemptAt: number, error: string, giveUp: boolean): void {
    this.s.failed.run({ id, attempts, next: nextAttemptAt, error, state: giveUp ? 'failed' : 'pending' });
  }
  list(filter?: { kind?: string }): NotificationRecord[] {
    return (filter?.kind !== undefined ? this.s.byKind.all(filter.kind) : this.s.all.all()).map(notificationOf);
  }

  backlog(): number {
    return this.s.backlog.get()?.n ?? 0;
  }
}
