import { SqlReservationRepository } from '@locker/backend/store/sql/reservation-repository.js';
import type { SqlExecutor } from '@locker/backend/store/sql/sql-executor.js';
import { sql } from '@locker/backend/store/sql/sql-text.js';
import { holdResponse, NoCapacityError, SCOPE, type HoldInput } from './hold-schedule.js';

// Variant (a): the checkout hold unit on our own layer, the way the store runs it: the
// claim is the production SqlReservationRepository (conditional claim, per-engine text,
// FOR UPDATE SKIP LOCKED on PostgreSQL, reservation insert); the idempotency lookup, the
// state-log row and the idempotency record are the same statements the store's
// repositories use, each one text for both engines.

const idempotencyGet = sql('SELECT request_hash, status_code, response_json FROM idempotency WHERE scope = ? AND key = ?');
const idempotencyPut = sql(
  `INSERT INTO idempotency (scope, key, request_hash, status_code, response_json, created_at)
   VALUES (@scope, @key, @hash, @status, @json, @now) ON CONFLICT DO NOTHING`,
);
const stateLogAppend = sql(
  `INSERT INTO state_log (entity, entity_id, from_state, to_state, event, actor, reason, at) VALUES (@entity, @entityId, @from, @to, @event, @actor, @reason, @at)`,
);

export class SqlExecutorHold {
  private readonly reservations: SqlReservationRepository;

  constructor(readonly x: SqlExecutor) {
    this.reservations = new SqlReservationRepository(x);
  }

  /** One hold in its own transaction (its own commit). */
  hold(u: HoldInput): Promise<void> {
    return this.x.transaction(() => this.unit(u));
  }

  /** One hold as a group-committed unit (SQLite shares the commit; PostgreSQL: its own). */
  holdGrouped(u: HoldInput): Promise<void> {
    return this.x.transactionGrouped(() => this.unit(u));
  }

  private async unit(u: HoldInput): Promise<void> {
    const existing = await this.x.one(idempotencyGet, [SCOPE, u.key]);
    if (existing !== undefined) throw new Error(`bench keys are fresh, yet ${u.key} was found`);
    const held = await this.reservations.claim({ id: u.id, orderRef: u.orderRef, lockerId: u.lockerId, size: u.size, status: 'held', expiresAt: u.expiresAt, now: u.now, offlineCutoff: u.offlineCutoff });
    if (held === undefined) throw new NoCapacityError(u);
    await this.x.run(stateLogAppend, { entity: 'reservation', entityId: u.id, from: null, to: 'held', event: 'reserve', actor: 'checkout', reason: null, at: u.now });
    await this.x.run(idempotencyPut, { scope: SCOPE, key: u.key, hash: 'h', status: 201, json: holdResponse(u, held.compartmentId), now: u.now });
  }

  close(): Promise<void> {
    return this.x.close();
  }
}
