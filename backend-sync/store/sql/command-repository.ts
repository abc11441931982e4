import type { CommandRecord } from '../records.js';
import type { CommandRepository } from '../store.js';
import { readJson } from './json-column.js';
import { JsonObject } from './stored-schemas.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// Commands sent to lockers, kept until replied or expired so they can be re-published.
// The command itself is stored as an object and parsed against the wire contract only
// when published (command-service.ts): a command of a kind this code no longer knows is
// skipped there, not refused here.

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

function commandOf(r: CommandRow): CommandRecord {
  const key = { transactionId: r.transaction_id };
  const c: CommandRecord = {
    transactionId: r.transaction_id,
    lockerId: r.locker_id,
    command: readJson(JsonObject, r.command_json, { table: 'commands', column: 'command_json', key }),
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
    actor: r.actor,
    createdAt: r.created_at,
  };
  if (r.db_epoch !== null) c.dbEpoch = r.db_epoch;
  if (r.reply_json !== null) c.reply = readJson(JsonObject, r.reply_json, { table: 'commands', column: 'reply_json', key });
  return c;
}

const COLUMNS = 'transaction_id, locker_id, command_json, state, reply_json, attempts, next_attempt_at, expires_at, actor, created_at, db_epoch';

const insert = sql(
  `INSERT INTO commands (transaction_id, locker_id, command_json, state, attempts, next_attempt_at, expires_at, actor, created_at, db_epoch)
   VALUES (@transactionId, @lockerId, @command, 'pending', 0, @next, @expiresAt, @actor, @createdAt, @dbEpoch)`,
);
const get = sql(`SELECT ${COLUMNS} FROM commands WHERE transaction_id = ?`);
// Pending, due, not yet expired, and not leased by a live claim (see RefundRepository.claimPending).
const DUE_PICK = `SELECT transaction_id FROM commands
   WHERE state = 'pending' AND next_attempt_at <= @now AND expires_at > @now AND (lease_until IS NULL OR lease_until <= @now)
   ORDER BY next_attempt_at, transaction_id LIMIT @limit`;
const claimDue = sqlPer({
  sqlite: `UPDATE commands SET lease_until = @until WHERE transaction_id IN (${DUE_PICK}) RETURNING ${COLUMNS}`,
  postgres: `UPDATE commands SET lease_until = @until WHERE transaction_id IN (${DUE_PICK} FOR UPDATE SKIP LOCKED) RETURNING ${COLUMNS}`,
});
// Recording the attempt ends the lease: the next one is governed by next_attempt_at.
const markAttempt = sql('UPDATE commands SET attempts = ?, next_attempt_at = ?, lease_until = NULL WHERE transaction_id = ?');
const reply = sql(
  `UPDATE commands SET state = 'replied', reply_json = ?, replied_at = ?, lease_until = NULL WHERE transaction_id = ? AND state <> 'replied'`,
);
const expire = sql(`UPDATE commands SET state = 'expired', lease_until = NULL WHERE state = 'pending' AND expires_at <= ?`);

const dueFirst = (a: CommandRecord, b: CommandRecord): number =>
  a.nextAttemptAt - b.nextAttemptAt || (a.transactionId < b.transactionId ? -1 : a.transactionId > b.transactionId ? 1 : 0);

export class SqlCommandRepository implements CommandRepository {
  constructor(private readonly x: SqlExecutor) {}

  async insert(c: CommandRecord): Promise<void> {
    await this.x.run(insert, {
      transactionId: c.transactionId,
      lockerId: c.lockerId,
      command: JSON.stringify(c.command),
      next: c.nextAttemptAt,
      expiresAt: c.expiresAt,
      actor: c.actor,
      createdAt: c.createdAt,
      dbEpoch: c.dbEpoch ?? null,
    });
  }

  async get(transactionId: string): Promise<CommandRecord | undefined> {
    const r = await this.x.one<CommandRow>(get, [transactionId]);
    return r === undefined ? undefined : commandOf(r);
  }

  async claimDue(now: number, leaseMs: number, limit: number): Promise<CommandRecord[]> {
    // RETURNING promises no order: put the claimed commands back in due order.
    return (await this.x.all<CommandRow>(claimDue, { now, until: now + leaseMs, limit })).map(commandOf).sort(dueFirst);
  }

  async markAttempt(transactionId: string, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.x.run(markAttempt, [attempts, nextAttemptAt, transactionId]);
  }

  async reply(transactionId: string, body: Record<string, unknown>, at: number): Promise<boolean> {
    return (await this.x.run(reply, [JSON.stringify(body), at, transactionId])) === 1;
  }

  expire(now: number): Promise<number> {
    return this.x.run(expire, [now]);
  }
}
