import type { CommandRecord } from '../records.js';
import type { CommandRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Commands sent to lockers, kept until replied or expired so they can be re-published.

interface CommandRow {
  transaction_id: string;
  locker_id: string;
  command_json: string;
  state: CommandRecord['state'];
  reply_json: string | null;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  actor: string;
  created_at: number;
  db_epoch: string | null;
}

const commandOf = (r: CommandRow): CommandRecord => {
  const c: CommandRecord = {
    transactionId: r.transaction_id,
    lockerId: r.locker_id,
    command: JSON.parse(r.command_json) as Record<string, unknown>,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
    actor: r.actor,
    createdAt: r.created_at,
  };
  if (r.db_epoch !== null) c.dbEpoch = r.db_epoch;
  if (r.reply_json !== null) c.reply = JSON.parse(r.reply_json) as Record<string, unknown>;
  return c;
};

export class SqliteCommandRepository implements CommandRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO commands (transaction_id, locker_id, command_json, state, attempts, next_attempt_at, expires_at, actor, created_at, db_epoch)
         VALUES (@transactionId, @lockerId, @command, 'pending', 0, @next, @expiresAt, @actor, @createdAt, @dbEpoch)`,
      ),
      get: db.prepare<[string], CommandRow>('SELECT * FROM commands WHERE transaction_id = ?'),
      due: db.prepare<[number, number, number], CommandRow>(
        `SELECT * FROM commands WHERE state = 'pending' AND next_attempt_at <= ? AND expires_at > ? ORDER BY next_attempt_at LIMIT ?`,
      ),
      attempt: db.prepare<[number, number, string]>('UPDATE commands SET attempts = ?, next_attempt_at = ? WHERE transaction_id = ?'),
      reply: db.prepare<[string, number, string]>(`UPDATE commands SET state = 'replied', reply_json = ?, replied_at = ? WHERE transaction_id = ? AND state != 'replied'`),
      expire: db.prepare<[number]>(`UPDATE commands SET state = 'expired' WHERE state = 'pending' AND expires_at <= ?`),
    };
  }
  insert(c: CommandRecord): void {
    this.s.insert.run({ transactionId: c.transactionId, lockerId: c.lockerId, command: JSON.stringify(c.command), next: c.nextAttemptAt, expiresAt: c.expiresAt, actor: c.actor, createdAt: c.createdAt, dbEpoch: c.dbEpoch ?? null });
  }
  get(transactionId: string): CommandRecord | undefined {
    const r = this.s.get.get(transactionId);
    return r === undefined ? undefined : commandOf(r);
  }
  due(now: number, limit: number): CommandRecord[] {
    return this.s.due.all(now, now, limit).map(commandOf);
  }
  markAttempt(transactionId: string, attempts: number, nextAttemptAt: number): void {
    this.s.attempt.run(attempts, nextAttemptAt, transactionId);
  }
  reply(transactionId: string, reply: Record<string, unknown>, at: number): boolean {
    return this.s.reply.run(JSON.stringify(reply), at, transactionId).changes === 1;
  }
  expire(now: number): number {
    return this.s.expire.run(now).changes;
  }
}
