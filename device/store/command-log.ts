import { DeviceError } from '../errors.js';
import type { StoredCommandReply } from '@locker/sync-agent/device-sync-port.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import { isUniqueViolation } from './sqlite-errors.js';

// Backend commands by transaction id (business idempotency). beginCommand is committed
// before any side effect and the reply is stored before it is published, so a repeated
// command gets the stored reply and a command cut short by a crash is reported 'unknown'.

interface CommandRow {
  transaction_id: string;
  kind: string;
  started_at: number;
  reply_json: string | null;
}

export class CommandLog {
  private readonly one: Stmt<[string], CommandRow>;
  private readonly insert: Stmt<[string, string, number, number]>;
  private readonly complete: Stmt<[string, number, string]>;
  private readonly unfinished: Stmt<[], CommandRow>;

  constructor(db: SqliteDatabase) {
    this.one = db.prepare<[string], CommandRow>('SELECT transaction_id, kind, started_at, reply_json FROM command_log WHERE transaction_id = ?');
    this.insert = db.prepare<[string, string, number, number]>(
      'INSERT INTO command_log (transaction_id, kind, started_at, expires_at) VALUES (?, ?, ?, ?)',
    );
    this.complete = db.prepare<[string, number, string]>(
      'UPDATE command_log SET reply_json = ?, completed_at = ? WHERE transaction_id = ? AND completed_at IS NULL',
    );
    this.unfinished = db.prepare<[], CommandRow>(
      'SELECT transaction_id, kind, started_at, reply_json FROM command_log WHERE completed_at IS NULL ORDER BY started_at, transaction_id',
    );
  }

  find(transactionId: string): StoredCommandReply | undefined {
    const r = this.one.get(transactionId);
    return r === undefined ? undefined : { transactionId: r.transaction_id, kind: r.kind, replyJson: r.reply_json ?? undefined, startedAt: r.started_at };
  }

  /** A second begin of the same transaction is a bug (it would run a command twice). */
  begin(transactionId: string, kind: string, expiresAt: number, at: number): void {
    try {
      this.insert.run(transactionId, kind, at, expiresAt);
    } catch (err) {
      if (isUniqueViolation(err)) throw new DeviceError('STORE_STATE_CONFLICT', 'command already begun', { transactionId, kind });
      throw err;
    }
  }

  /** The stored reply is final: completing again with another reply is refused. */
  completeWith(transactionId: string, replyJson: string, at: number): void {
    if (this.complete.run(replyJson, at, transactionId).changes > 0) return;
    const existing = this.one.get(transactionId);
    if (existing === undefined) throw new DeviceError('STORE_NOT_FOUND', 'command never begun', { transactionId });
    if (existing.reply_json !== replyJson) {
      throw new DeviceError('STORE_STATE_CONFLICT', 'command already completed with another reply', { transactionId });
    }
  }

  listUnfinished(): Array<{ transactionId: string; kind: string; startedAt: number }> {
    return this.unfinished.all().map((r) => ({ transactionId: r.transaction_id, kind: r.kind, startedAt: r.started_at }));
  }
}
