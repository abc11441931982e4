import type { CompartmentSize } from '../../shared/contract.js';
import { BackendError } from '../../shared/errors.js';
import { priorRecord } from '../../shared/idempotency.js';
import type { ReservationRecord, ReservationStatus } from '../records.js';
import type { ClaimParams, IdempotentHoldOutcome, IdempotentHoldParams, ReservationRepository } from '../store.js';
import { SqlIdempotencyRepository, SqlStateLogRepository } from './ledger-repositories.js';
import { atomically, type SqlExecutor } from './sql-executor.js';
import { sql, sqlPer, type SqlValue } from './sql-text.js';

interface ReservationRow {
  id: string;
  order_ref: string;
  locker_id: string;
  size: CompartmentSize;
  compartment_id: string;
  status: ReservationStatus;
  expires_at: number;
  order_id: string | null;
  shipment_id: string | null;
  created_at: number;
}

function toRecord(r: ReservationRow): ReservationRecord {
  const rec: ReservationRecord = {
    id: r.id,
    orderRef: r.order_ref,
    lockerId: r.locker_id,
    size: r.size,
    compartmentId: r.compartment_id,
    status: r.status,
    expiresAt: r.expires_at,
    createdAt: r.created_at,
  };
  if (r.order_id !== null) rec.orderId = r.order_id;
  if (r.shipment_id !== null) rec.shipmentId = r.shipment_id;
  return rec;
}

const COLUMNS = 'id, order_ref, locker_id, size, compartment_id, status, expires_at, order_id, shipment_id, created_at';

// THE anti-double-booking write: one statement picks a free compartment and flips it, and
// the outer WHERE re-checks 'free' so the row changes only if still free. On PostgreSQL
// the pick also locks the row and skips rows other claims have locked, so concurrent
// claims spread over the free compartments instead of queueing on the first one. A
// unique index on active reservations per compartment backs it up (migrations).
const FREE_WHERE = `WHERE c.locker_id = @lockerId AND c.state = 'free' AND c.size = @size AND c.id <> @exclude
     AND l.status = 'operating' AND (l.offline_since IS NULL OR l.offline_since > @offlineCutoff)
   ORDER BY c.id LIMIT 1`;
const FREE_PICK = `FROM compartments c JOIN lockers l ON l.id = c.locker_id ${FREE_WHERE}`;
// SQLite clusters compartments by (locker_id, id) (migration step 14): the pick reads the
// locker's rows in key order from one page and stops at the first free one of the size.
const FREE_PICK_SQLITE = `FROM compartments c JOIN lockers l ON l.id = c.locker_id ${FREE_WHERE}`;
const claim = sqlPer({
  sqlite: `UPDATE compartments SET state = @compartmentState, reservation_id = @id, hold_expires_at = @holdExpiresAt
    WHERE locker_id = @lockerId AND id = (SELECT c.id ${FREE_PICK_SQLITE}) AND state = 'free'
    RETURNING id`,
  postgres: `UPDATE compartments SET state = @compartmentState, reservation_id = @id, hold_expires_at = @holdExpiresAt
    WHERE (locker_id, id) = (SELECT c.locker_id, c.id ${FREE_PICK} FOR UPDATE OF c SKIP LOCKED) AND state = 'free'
    RETURNING id`,
});
// PostgreSQL: the claim and the reservation row in one statement (a data-modifying CTE),
// one round trip instead of two on the checkout hot path. The insert takes its row from
// the claim's RETURNING, so it inserts nothing when nothing was claimed. SQLite has no
// DML in WITH; there the two statements run in the caller's transaction, in process.
const claimAndInsert = `WITH claimed AS (
    UPDATE compartments SET state = @compartmentState, reservation_id = @id, hold_expires_at = @holdExpiresAt
     WHERE (locker_id, id) = (SELECT c.locker_id, c.id ${FREE_PICK} FOR UPDATE OF c SKIP LOCKED) AND state = 'free'
     RETURNING id
  )
  INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, created_at, updated_at)
  SELECT @id, @orderRef, @lockerId, @size, claimed.id, @status, @expiresAt::bigint, @now::bigint, @now::bigint FROM claimed
  RETURNING compartment_id AS id`;
// Never run on SQLite: the empty text makes better-sqlite3 refuse it loudly if it ever were.
const claimInsertPg = sqlPer({ sqlite: '-- PostgreSQL only', postgres: claimAndInsert });
// PostgreSQL: the whole idempotent hold as ONE statement, sent without BEGIN/COMMIT (a
// single statement is its own transaction): one round trip instead of six, which is what a
// hold costs on PostgreSQL (docs/backend.md, issue 9). All parts see one snapshot:
// - prior: the key's record, if any, else a bare-key record of the very same request stored
//   before keys were scoped by caller (@legacyKey, priorRecord in shared/idempotency.ts);
//   then nothing below writes (the claim's WHERE is false).
// - claimed/inserted: the claim and reservation of claimInsertPg, unchanged.
// - logged: the state-log row, recorded: the idempotency record, both only for a row inserted.
// A concurrent request with the same key that committed after our snapshot (or is still
// in flight: the insert waits for it) makes the idempotency insert fail with a unique
// violation, and the whole statement with it — nothing of this hold remains — and the
// caller runs it again, finding that request's record. The response is assembled around
// the claimed compartment's id, exactly as JSON.stringify would have written the view.
const holdPg = sqlPer({
  sqlite: '-- PostgreSQL only',
  postgres: `WITH prior AS (
    SELECT request_hash, status_code, response_json FROM idempotency
     WHERE scope = @scope AND (key = @key OR (key = @legacyKey::text AND request_hash = @hash))
     ORDER BY key = @key DESC LIMIT 1
  ), claimed AS (
    UPDATE compartments SET state = 'held', reservation_id = @id, hold_expires_at = @expiresAt::bigint
     WHERE (locker_id, id) = (SELECT c.locker_id, c.id ${FREE_PICK} FOR UPDATE OF c SKIP LOCKED) AND state = 'free'
       AND NOT EXISTS (SELECT 1 FROM prior)
     RETURNING id
  ), inserted AS (
    INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, created_at, updated_at)
    SELECT @id, @orderRef, @lockerId, @size, claimed.id, 'held', @expiresAt::bigint, @now::bigint, @now::bigint FROM claimed
    RETURNING id, compartment_id
  ), logged AS (
    INSERT INTO state_log (entity, entity_id, to_state, event, actor, at)
    SELECT 'reservation', inserted.id, 'held', 'reserve', 'checkout', @now::bigint FROM inserted
  ), recorded AS (
    INSERT INTO idempotency (scope, key, request_hash, status_code, response_json, created_at)
    SELECT @scope, @key, @hash, @statusCode::integer, @before::text || to_json(inserted.compartment_id)::text || @after::text, @now::bigint FROM inserted
  )
  SELECT (SELECT compartment_id FROM inserted) AS compartment_id, p.request_hash, p.status_code, p.response_json
    FROM (SELECT 1) AS one LEFT JOIN prior AS p ON true`,
});
interface HoldRow {
  compartment_id: string | null;
  request_hash: string | null;
  status_code: number | null;
  response_json: string | null;
}
const PG_UNIQUE_VIOLATION = '23505';

const insert = sql(
  `INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, created_at, updated_at)
   VALUES (@id, @orderRef, @lockerId, @size, @compartmentId, @status, @expiresAt, @now, @now)`,
);
const get = sql(`SELECT ${COLUMNS} FROM reservations WHERE id = ?`);
const lock = sqlPer({
  sqlite: `SELECT ${COLUMNS} FROM reservations WHERE id = ?`,
  postgres: `SELECT ${COLUMNS} FROM reservations WHERE id = ? FOR UPDATE`,
});
const confirm = sql(
  `UPDATE reservations SET status = 'confirmed', order_id = @orderId, updated_at = @now
    WHERE id = @id AND status = 'held' AND expires_at > @now
   RETURNING locker_id, compartment_id`,
);
// By the compartment's key, which the confirmed row names: compartments has no index on
// reservation_id, and a WHERE on it alone read every compartment of the estate (10.8 ms a
// confirmation at 200,000 compartments on SQLite, the event loop blocked throughout).
const confirmCompartment = sql(
  `UPDATE compartments SET state = 'reserved', hold_expires_at = NULL
    WHERE locker_id = ? AND id = ? AND reservation_id = ? AND state = 'held'`,
);
const release = sql(
  `UPDATE reservations SET status = @status, updated_at = @now WHERE id = @id AND status IN ('held', 'confirmed', 'consumed')
   RETURNING locker_id, compartment_id`,
);
const freeCompartment = sql(
  `UPDATE compartments SET state = 'free', reservation_id = NULL, hold_expires_at = NULL
    WHERE locker_id = ? AND id = ? AND reservation_id = ? AND state IN ('held', 'reserved')`,
);
// Moves a live reservation to a named door (the locker already put its parcel there).
// Locked (PostgreSQL), so the door read is the door the UPDATE moves it from.
const liveDoor = sqlPer({
  sqlite: `SELECT locker_id, compartment_id FROM reservations WHERE id = ? AND status IN ('held', 'confirmed', 'consumed')`,
  postgres: `SELECT locker_id, compartment_id FROM reservations WHERE id = ? AND status IN ('held', 'confirmed', 'consumed') FOR UPDATE`,
});
const repoint = sql(`UPDATE reservations SET compartment_id = ?, updated_at = ? WHERE id = ? AND status IN ('held', 'confirmed', 'consumed')`);
const consume = sql(`UPDATE reservations SET status = 'consumed', shipment_id = @shipmentId, updated_at = @now WHERE id = @id AND status = 'confirmed'`);
// Several instances sweep at once: each takes rows the others have not locked.
const due = sqlPer({
  sqlite: `SELECT ${COLUMNS} FROM reservations WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
  postgres: `SELECT ${COLUMNS} FROM reservations WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED`,
});
const dueFor = sql(`SELECT ${COLUMNS} FROM reservations WHERE status = 'held' AND expires_at <= ? AND locker_id = ? AND size = ?`);
const setCompartment = sql('UPDATE reservations SET compartment_id = ?, updated_at = ? WHERE id = ?');
const byOrder = sql(`SELECT ${COLUMNS} FROM reservations WHERE order_id = ? ORDER BY created_at, id`);
// The partial index reservations_abandoned, oldest first; several instances purge at once
// on PostgreSQL, each taking rows the others have not locked.
const ABANDONED = `status IN ('released', 'expired') AND order_id IS NULL AND updated_at < ?`;
const purgeAbandoned = sqlPer({
  sqlite: `DELETE FROM reservations WHERE rowid IN (SELECT rowid FROM reservations WHERE ${ABANDONED} ORDER BY updated_at LIMIT ?)`,
  postgres: `DELETE FROM reservations WHERE id IN (SELECT id FROM reservations WHERE ${ABANDONED} ORDER BY updated_at LIMIT ? FOR UPDATE SKIP LOCKED)`,
});

export class SqlReservationRepository implements ReservationRepository {
  private readonly idempotency: SqlIdempotencyRepository;
  private readonly stateLog: SqlStateLogRepository;

  constructor(private readonly x: SqlExecutor) {
    this.idempotency = new SqlIdempotencyRepository(x);
    this.stateLog = new SqlStateLogRepository(x);
  }

  holdIdempotent(p: IdempotentHoldParams): Promise<IdempotentHoldOutcome> {
    return this.x.engine === 'postgres' ? this.holdOneStatement(p) : this.x.transactionGrouped(() => this.holdUnit(p));
  }

  private async holdOneStatement(p: IdempotentHoldParams): Promise<IdempotentHoldOutcome> {
    let row: HoldRow | undefined;
    try {
      row = await this.x.one<HoldRow>(holdPg, {
        scope: p.scope,
        key: p.key,
        legacyKey: p.legacyKey ?? null,
        hash: p.requestHash,
        statusCode: p.statusCode,
        id: p.id,
        orderRef: p.orderRef,
        lockerId: p.lockerId,
        size: p.size,
        expiresAt: p.expiresAt,
        now: p.now,
        exclude: '',
        offlineCutoff: p.offlineCutoff,
        before: p.response.before,
        after: p.response.after,
      });
    } catch (err) {
      if (isIdempotencyKeyTaken(err)) throw new BackendError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is being processed; retry', { scope: p.scope });
      throw err;
    }
    if (row === undefined) throw new Error('the hold statement returned no row');
    if (row.request_hash !== null && row.status_code !== null && row.response_json !== null) {
      return { kind: 'replay', record: { requestHash: row.request_hash, statusCode: row.status_code, responseJson: row.response_json } };
    }
    if (row.compartment_id === null) return { kind: 'none' };
    return { kind: 'held', reservation: this.heldRecord(p, row.compartment_id) };
  }

  // SQLite: the same parts as statements in one group-committed unit (SQLite has no DML in
  // WITH, and a statement here is a call into the library, not a round trip).
  private async holdUnit(p: IdempotentHoldParams): Promise<IdempotentHoldOutcome> {
    const prior = await priorRecord(this.idempotency, p.scope, p.key, p.legacyKey, p.requestHash);
    if (prior !== undefined) return { kind: 'replay', record: prior };
    const compartmentId = await this.claimAndInsert({ id: p.id, orderRef: p.orderRef, lockerId: p.lockerId, size: p.size, status: 'held', expiresAt: p.expiresAt, now: p.now, offlineCutoff: p.offlineCutoff });
    if (compartmentId === undefined) return { kind: 'none' };
    await this.stateLog.append({ entity: 'reservation', entityId: p.id, to: 'held', event: 'reserve', actor: 'checkout', at: p.now });
    const responseJson = p.response.before + JSON.stringify(compartmentId) + p.response.after;
    if (!(await this.idempotency.put(p.scope, p.key, { requestHash: p.requestHash, statusCode: p.statusCode, responseJson }, p.now))) {
      // Unreachable with one writer (the lookup above is in this transaction); kept so the unit is undone, never half-recorded.
      throw new BackendError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is being processed; retry', { scope: p.scope });
    }
    return { kind: 'held', reservation: this.heldRecord(p, compartmentId) };
  }

  private heldRecord(p: IdempotentHoldParams, compartmentId: string): ReservationRecord {
    return { id: p.id, orderRef: p.orderRef, lockerId: p.lockerId, size: p.size, compartmentId, status: 'held', expiresAt: p.expiresAt, createdAt: p.now };
  }

  claim(p: ClaimParams): Promise<ReservationRecord | undefined> {
    return atomically(this.x, async () => {
      let compartmentId = await this.claimAndInsert(p);
      if (compartmentId === undefined) {
        // Nothing free: holds on this locker and size that lapsed go back to the pool (lazy
        // release, same transaction) and the claim is tried once more, so a lapsed hold never
        // blocks a new customer. Done only on this path: the common case costs no extra read.
        const lapsed = await this.x.all<ReservationRow>(dueFor, [p.now, p.lockerId, p.size]);
        for (const r of lapsed) await this.release(r.id, 'expired', p.now);
        if (lapsed.length > 0) compartmentId = await this.claimAndInsert(p);
      }
      if (compartmentId === undefined) return undefined;
      return { id: p.id, orderRef: p.orderRef, lockerId: p.lockerId, size: p.size, compartmentId, status: p.status, expiresAt: p.expiresAt, createdAt: p.now };
    });
  }

  /** Claims a free compartment and inserts the reservation on it; the compartment's id, or undefined when none was free. */
  private async claimAndInsert(p: ClaimParams): Promise<string | undefined> {
    if (this.x.engine === 'postgres') return (await this.x.one<{ id: string }>(claimInsertPg, { ...this.claimParams(p), orderRef: p.orderRef, status: p.status, expiresAt: p.expiresAt, now: p.now }))?.id;
    const claimed = await this.claimFree(p);
    if (claimed === undefined) return undefined;
    await this.x.run(insert, { id: p.id, orderRef: p.orderRef, lockerId: p.lockerId, size: p.size, compartmentId: claimed.id, status: p.status, expiresAt: p.expiresAt, now: p.now });
    return claimed.id;
  }

  private claimFree(p: ClaimParams): Promise<{ id: string } | undefined> {
    return this.x.one<{ id: string }>(claim, this.claimParams(p));
  }

  private claimParams(p: ClaimParams): Record<string, SqlValue> {
    return {
      id: p.id,
      lockerId: p.lockerId,
      size: p.size,
      compartmentState: p.status === 'held' ? 'held' : 'reserved',
      holdExpiresAt: p.status === 'held' ? p.expiresAt : null,
      exclude: p.excludeCompartmentId ?? '',
      offlineCutoff: p.offlineCutoff,
    };
  }

  async get(id: string): Promise<ReservationRecord | undefined> {
    const row = await this.x.one<ReservationRow>(get, [id]);
    return row === undefined ? undefined : toRecord(row);
  }

  async lock(id: string): Promise<ReservationRecord | undefined> {
    const row = await this.x.one<ReservationRow>(lock, [id]);
    return row === undefined ? undefined : toRecord(row);
  }

  confirm(id: string, orderId: string, now: number): Promise<boolean> {
    return atomically(this.x, async () => {
      const row = await this.x.one<{ locker_id: string; compartment_id: string }>(confirm, { id, orderId, now });
      if (row === undefined) return false;
      await this.x.run(confirmCompartment, [row.locker_id, row.compartment_id, id]);
      return true;
    });
  }

  release(id: string, status: 'released' | 'expired', now: number): Promise<boolean> {
    return atomically(this.x, async () => {
      const row = await this.x.one<{ locker_id: string; compartment_id: string }>(release, { id, status, now });
      if (row === undefined) return false;
      await this.x.run(freeCompartment, [row.locker_id, row.compartment_id, id]);
      return true;
    });
  }

  repoint(id: string, compartmentId: string, now: number): Promise<boolean> {
    return atomically(this.x, async () => {
      const row = await this.x.one<{ locker_id: string; compartment_id: string }>(liveDoor, [id]);
      if (row === undefined || (await this.x.run(repoint, [compartmentId, now, id])) !== 1) return false;
      // The door it leaves is freed only while it still names this reservation.
      if (row.compartment_id !== compartmentId) await this.x.run(freeCompartment, [row.locker_id, row.compartment_id, id]);
      return true;
    });
  }

  async consume(id: string, shipmentId: string, now: number): Promise<boolean> {
    return (await this.x.run(consume, { id, shipmentId, now })) === 1;
  }

  async dueForExpiry(now: number, limit: number): Promise<ReservationRecord[]> {
    return (await this.x.all<ReservationRow>(due, [now, limit])).map(toRecord);
  }

  relocate(id: string, excludeCompartmentId: string, now: number, offlineCutoff: number): Promise<string | undefined> {
    return atomically(this.x, async () => {
      const r = await this.get(id);
      if (r === undefined || (r.status !== 'held' && r.status !== 'confirmed')) return undefined;
      const claimed = await this.claimFree({ id, orderRef: r.orderRef, lockerId: r.lockerId, size: r.size, status: r.status, expiresAt: r.expiresAt, now, offlineCutoff, excludeCompartmentId });
      if (claimed === undefined) return undefined;
      await this.x.run(setCompartment, [claimed.id, now, id]);
      return claimed.id;
    });
  }

  purgeAbandoned(before: number, limit: number): Promise<number> {
    return this.x.run(purgeAbandoned, [before, limit]);
  }

  async byOrder(orderId: string): Promise<ReservationRecord[]> {
    return (await this.x.all<ReservationRow>(byOrder, [orderId])).map(toRecord);
  }
}

/** The idempotency record's primary key refused our insert: another request holds the key. */
function isIdempotencyKeyTaken(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return e?.code === PG_UNIQUE_VIOLATION && e.constraint === 'idempotency_pkey';
}
