import type { RefundRecord, StateLogEntry } from '../records.js';
import type { IdempotencyRecord, IdempotencyRepository, RefundRepository, StateLogRepository } from '../store.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// Append-mostly records: idempotency responses, the append-only state log, refunds.

const getIdempotency = sql('SELECT request_hash, status_code, response_json FROM idempotency WHERE scope = ? AND key = ?');
const putIdempotency = sql(
  `INSERT INTO idempotency (scope, key, request_hash, status_code, response_json, created_at)
   VALUES (@scope, @key, @hash, @status, @json, @now) ON CONFLICT DO NOTHING`,
);

// Oldest first, a bounded batch at a time. Several instances purge at once: on PostgreSQL
// each takes rows the others have not locked.
const purgeIdempotency = sqlPer({
  sqlite: `DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ?)`,
  postgres: `DELETE FROM idempotency WHERE (scope, key) IN
    (SELECT scope, key FROM idempotency WHERE created_at < ? ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED)`,
});

export class SqlIdempotencyRepository implements IdempotencyRepository {
  constructor(private readonly x: SqlExecutor) {}

  async get(scope: string, key: string): Promise<IdempotencyRecord | undefined> {
    const r = await this.x.one<{ request_hash: string; status_code: number; response_json: string }>(getIdempotency, [scope, key]);
    // response_json is handed back as text, exactly as stored: the caller replays it verbatim.
    return r === undefined ? undefined : { requestHash: r.request_hash, statusCode: r.status_code, responseJson: r.response_json };
  }

  async put(scope: string, key: string, rec: IdempotencyRecord, now: number): Promise<boolean> {
    return (await this.x.run(putIdempotency, { scope, key, hash: rec.requestHash, status: rec.statusCode, json: rec.responseJson, now })) === 1;
  }

  purge(before: number, limit: number): Promise<number> {
    return this.x.run(purgeIdempotency, [before, limit]);
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

const appendLog = sql(
  `INSERT INTO state_log (entity, entity_id, from_state, to_state, event, actor, reason, at) VALUES (@entity, @entityId, @from, @to, @event, @actor, @reason, @at)`,
);
// The identity column orders entries as they were appended, also within one millisecond.
const listLog = sql('SELECT entity, entity_id, from_state, to_state, event, actor, reason, at FROM state_log WHERE entity = ? AND entity_id = ? ORDER BY id');

export class SqlStateLogRepository implements StateLogRepository {
  constructor(private readonly x: SqlExecutor) {}

  async append(e: StateLogEntry): Promise<void> {
    await this.x.run(appendLog, { entity: e.entity, entityId: e.entityId, from: e.from ?? null, to: e.to, event: e.event, actor: e.actor, reason: e.reason ?? null, at: e.at });
  }

  async list(entity: StateLogEntry['entity'], entityId: string): Promise<StateLogEntry[]> {
    return (await this.x.all<LogRow>(listLog, [entity, entityId])).map((r) => {
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
  retries: number;
  unanswered: number;
  last_error: string | null;
}

function refundOf(r: RefundRow): RefundRecord {
  const x: RefundRecord = { id: r.id, orderId: r.order_id, amountCents: r.amount_cents, state: r.state, reason: r.reason, createdAt: r.created_at };
  if (r.provider_ref !== null) x.providerRef = r.provider_ref;
  if (r.retries > 0) x.retries = r.retries;
  if (r.unanswered > 0) x.unanswered = r.unanswered;
  if (r.last_error !== null) x.lastError = r.last_error;
  return x;
}

const REFUND_COLUMNS = 'id, order_id, amount_cents, state, reason, provider_ref, created_at, retries, unanswered, last_error';

const insertRefund = sql(
  `INSERT INTO refunds (id, order_id, amount_cents, state, reason, created_at, updated_at) VALUES (@id, @orderId, @amount, 'pending', @reason, @now, @now)`,
);
const refundsByOrder = sql(`SELECT ${REFUND_COLUMNS} FROM refunds WHERE order_id = ? ORDER BY created_at, id`);
// One statement picks pending refunds nobody holds a live lease on and leases them. On
// PostgreSQL the pick skips rows another instance's claim has locked, so two claims in
// flight get disjoint refunds; SQLite runs one write at a time anyway.
const PENDING_PICK = `SELECT id FROM refunds WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= @now) ORDER BY created_at, id LIMIT @limit`;
const claimPending = sqlPer({
  sqlite: `UPDATE refunds SET lease_until = @until WHERE id IN (${PENDING_PICK}) RETURNING ${REFUND_COLUMNS}`,
  postgres: `UPDATE refunds SET lease_until = @until WHERE id IN (${PENDING_PICK} FOR UPDATE SKIP LOCKED) RETURNING ${REFUND_COLUMNS}`,
});
// Only the retry the caller paid under: an answer to an older key (a call that outlived its
// lease) must not settle the retry an operator queued since.
const settle = sql(
  `UPDATE refunds SET state = @state, provider_ref = @ref, last_error = @error, unanswered = 0, updated_at = @now, lease_until = NULL
   WHERE id = @id AND state = 'pending' AND retries = @retries`,
);
const defer = sql(
  `UPDATE refunds SET lease_until = @until, unanswered = unanswered + 1, last_error = @error, updated_at = @now
   WHERE id = @id AND state = 'pending' AND retries = @retries`,
);
const retry = sql(
  `UPDATE refunds SET state = 'pending', retries = retries + 1, unanswered = 0, lease_until = NULL, updated_at = @now
   WHERE id = @id AND state = 'failed' AND retries = @retries`,
);
const getRefund = sql(`SELECT ${REFUND_COLUMNS} FROM refunds WHERE id = ?`);
// The partial indexes refunds_failed and refunds_pending give the order and the page boundary.
const pageRefunds = sql(
  `SELECT ${REFUND_COLUMNS} FROM refunds
   WHERE state = @state AND (@hasAfter = 0 OR created_at > @afterAt OR (created_at = @afterAt AND id > @afterId))
   ORDER BY created_at, id LIMIT @limit`,
);
const countFailed = sql(`SELECT count(*) AS n FROM refunds WHERE state = 'failed'`);

const oldestFirst = (a: RefundRecord, b: RefundRecord): number => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export class SqlRefundRepository implements RefundRepository {
  constructor(private readonly x: SqlExecutor) {}

  async insert(r: RefundRecord): Promise<void> {
    await this.x.run(insertRefund, { id: r.id, orderId: r.orderId, amount: r.amountCents, reason: r.reason, now: r.createdAt });
  }

  async byOrder(orderId: string): Promise<RefundRecord[]> {
    return (await this.x.all<RefundRow>(refundsByOrder, [orderId])).map(refundOf);
  }

  async claimPending(now: number, leaseMs: number, limit: number): Promise<RefundRecord[]> {
    // RETURNING promises no order: put the claimed refunds back in the order they were picked.
    return (await this.x.all<RefundRow>(claimPending, { now, until: now + leaseMs, limit })).map(refundOf).sort(oldestFirst);
  }

  async settle(id: string, retries: number, outcome: { state: 'succeeded'; providerRef: string } | { state: 'failed'; error: string }, now: number): Promise<boolean> {
    const ref = outcome.state === 'succeeded' ? outcome.providerRef : null;
    const error = outcome.state === 'failed' ? outcome.error : null;
    return (await this.x.run(settle, { id, retries, state: outcome.state, ref, error, now })) === 1;
  }

  async defer(id: string, retries: number, until: number, error: string, now: number): Promise<boolean> {
    return (await this.x.run(defer, { id, retries, until, error, now })) === 1;
  }

  async retry(id: string, retries: number, now: number): Promise<boolean> {
    return (await this.x.run(retry, { id, retries, now })) === 1;
  }

  async get(id: string): Promise<RefundRecord | undefined> {
    const r = await this.x.one<RefundRow>(getRefund, [id]);
    return r === undefined ? undefined : refundOf(r);
  }

  async page(q: { state: 'pending' | 'failed'; after?: { createdAt: number; id: string } | undefined; limit: number }): Promise<RefundRecord[]> {
    const rows = await this.x.all<RefundRow>(pageRefunds, {
      state: q.state,
      hasAfter: q.after === undefined ? 0 : 1,
      afterAt: q.after?.createdAt ?? 0,
      afterId: q.after?.id ?? '',
      limit: q.limit,
    });
    return rows.map(refundOf);
  }

  async countFailed(): Promise<number> {
    return Number((await this.x.one<{ n: number | string }>(countFailed))?.n ?? 0);
  }
}
