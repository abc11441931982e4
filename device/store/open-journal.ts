import { DeviceError } from '../errors.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import { isUniqueViolation } from './sqlite-errors.js';
import type { OpenOperation, OpenOutcome, OpenReason } from './runtime-store.js';

// Write-ahead journal of relay pulses. beginOpen is committed before the pulse and
// finishOpen after the door sensor decided, so a row left unfinished by a crash is an open
// whose outcome nobody knows: recovery reports it as 'unknown' and never pulses again.

interface JournalRow {
  op_id: string;
  compartment_id: string;
  reason: OpenReason;
  token_id: string | null;
  parcel_id: string | null;
  transaction_id: string | null;
  started_at: number;
}

export class OpenJournal {
  private readonly insert: Stmt<{ opId: string; compartmentId: string; reason: string; tokenId: string | null; parcelId: string | null; transactionId: string | null; startedAt: number }>;
  private readonly finish: Stmt<[number, string, string]>;
  private readonly exists: Stmt<[string], { finished_at: number | null }>;
  private readonly unfinished: Stmt<[], JournalRow>;

  constructor(db: SqliteDatabase) {
    this.insert = db.prepare(
      `INSERT INTO open_journal (op_id, compartment_id, reason, token_id, parcel_id, transaction_id, started_at)
       VALUES (@opId, @compartmentId, @reason, @tokenId, @parcelId, @transactionId, @startedAt)`,
    );
    this.finish = db.prepare<[number, string, string]>(
      'UPDATE open_journal SET finished_at = ?, outcome = ? WHERE op_id = ? AND finished_at IS NULL',
    );
    this.exists = db.prepare<[string], { finished_at: number | null }>('SELECT finished_at FROM open_journal WHERE op_id = ?');
    this.unfinished = db.prepare<[], JournalRow>(
      `SELECT op_id, compartment_id, reason, token_id, parcel_id, transaction_id, started_at
         FROM open_journal WHERE finished_at IS NULL ORDER BY started_at, op_id`,
    );
  }

  begin(op: OpenOperation): void {
    try {
      this.insert.run({
        opId: op.opId,
        compartmentId: op.compartmentId,
        reason: op.reason,
        tokenId: op.tokenId ?? null,
        parcelId: op.parcelId ?? null,
        transactionId: op.transactionId ?? null,
        startedAt: op.startedAt,
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DeviceError('STORE_STATE_CONFLICT', 'open operation id already journaled', { opId: op.opId });
      throw err;
    }
  }

  /** Finishing twice keeps the first outcome (the one decided closest to the pulse). */
  finishOp(opId: string, outcome: OpenOutcome, at: number): void {
    if (this.finish.run(at, outcome, opId).changes > 0) return;
    if (this.exists.get(opId) === undefined) throw new DeviceError('STORE_NOT_FOUND', 'unknown open operation', { opId });
  }

  listUnfinished(): OpenOperation[] {
    return this.unfinished.all().map((r) => {
      const op: OpenOperation = { opId: r.op_id, compartmentId: r.compartment_id, reason: r.reason, startedAt: r.started_at };
      if (r.token_id !== null) op.tokenId = r.token_id;
      if (r.parcel_id !== null) op.parcelId = r.parcel_id;
      if (r.transaction_id !== null) op.transactionId = r.transaction_id;
      return op;
    });
  }
}
