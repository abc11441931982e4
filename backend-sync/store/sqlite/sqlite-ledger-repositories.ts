import type { RefundRecord, StateLogEntry } from '../records.js';
import type { IdempotencyRecord, IdempotencyRepository, RefundRepository, StateLogRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Append-mostly records: idempotency responses, the append-only state log, refunds.

export class SqliteIdempotencyRepository implements IdempotencyRepository {
  private readonly getStmt;
  private readonly putStmt;
  constructor(db: SqliteDatabase) {
    this.getStmt = db.prepare<[string, string], { request_hash: string; status_code: number; response_json: string }>(
      'SELECT request_hash, status_code, response_json FROM idempotency WHERE scope = ? AND key = ?',
    );
    this.putStmt = db.prepare(
      `INSERT INTO idempotency (scope, key, request_hash, status_code, response_json, created_at)
       VALUES (@scope, @key, @hash, @status, @json, @now) ON CONFLICT DO NOTHING`,
    );
  }
  get(scope: string, key: string): IdempotencyRecord | undefined {
    const r = this.getStmt.get(scope, key);
    return r === undefined ? undefined : { requestHash: r.request_hash, statusCode: r.status_code, responseJson: r.response_json };
  }
  put(scope: string, key: string, rec: IdempotencyRecord, now: number): boolean {
    return this.putStmt.run({ scope, key, hash: rec.requestHash, status: rec.statusCode, json: rec.responseJson, now }).changes === 1;
  }
}

interface LogRow {
  entity: StateLogEntry['entity'];
  entity_id: string;
  from_state: string | null;
  to_state: string;
  event: string;
  actor: string;
  reason: string | null;
  at: number;
}

export class SqliteStateLogRepository implements StateLogRepository {
  private readonly ins;
  private readonly sel;
  constructor(db: SqliteDatabase) {
    this.ins = db.prepare(
      `INSERT INTO state_log (entity, entity_id, from_state, to_state, event, actor, reason, at) VALUES (@entity, @entityId, @from, @to, @event, @actor, @reason, @at)`,
    );
    this.sel = db.prepare<[string, string], LogRow>('SELECT * FROM state_log WHERE entity = ? AND entity_id = ? ORDER BY id');
  }
  append(e: StateLogEntry): void {
    this.ins.run({ entity: e.entity, entityId: e.entityId, from: e.from ?? null, to: e.to, event: e.event, actor: e.actor, reason: e.reason ?? null, at: e.at });
  }
  list(entity: StateLogEntry['entity'], entityId: string): StateLogEntry[] {
    return this.sel.all(entity, entityId).map((r) => {
      const e: StateLogEntry = { entity: r.entity, entityId: r.entity_id, to: r.to_state, event: r.event, actor: r.actor, at: r.at };
      if (r.from_state !== null) e.from = r.from_state;
      if (r.reason !== null) e.reason = r.reason;
      return e;
    });
  }
}

interface RefundRow {
  id: string;
  order_id: string;
  amount_cents: number;
  state: RefundRecord['state'];
  reason: string;
  provider_ref: string | null;
  created_at: number;
}

const refundOf = (r: RefundRow): RefundRecord => {
  const x: RefundRecord = { id: r.id, orderId: r.order_id, amountCents: r.amount_cents, state: r.state, reason: r.reason, createdAt: r.created_at };
  if (r.provider_ref !== null) x.providerRef = r.provider_ref;
  return x;
};

export class SqliteRefundRepository implements RefundRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO refunds (id, order_id, amount_cents, state, reason, created_at, updated_at) VALUES (@id, @orderId, @amount, 'pending', @reason, @now, @now)`,
      ),
      byOrder: db.prepare<[string], RefundRow>('SELECT * FROM refunds WHERE order_id = ? ORDER BY created_at, id'),
      pending: db.prepare<[number], RefundRow>(`SELECT * FROM refunds WHERE state = 'pending' ORDER BY created_at LIMIT ?`),
      settle: db.prepare<{ id: string; state: string; ref: string | null; now: number }>(
        `UPDATE refunds SET state = @state, provider_ref = @ref, updated_at = @now WHERE id = @id AND state = 'pending'`,
      ),
    };
  }
  insert(r: RefundRecord): void {
    this.s.insert.run({ id: r.id, orderId: r.orderId, amount: r.amountCents, reason: r.reason, now: r.createdAt });
  }
  byOrder(orderId: string): RefundRecord[] {
    return this.s.byOrder.all(orderId).map(refundOf);
  }
  pending(limit: number): RefundRecord[] {
    return this.s.pending.all(limit).map(refundOf);
  }
  settle(id: string, state: 'succeeded' | 'failed', providerRef: string | undefined, now: number): boolean {
    return this.s.settle.run({ id, state, ref: providerRef ?? null, now }).changes === 1;
  }
}
