import type { CompartmentSize } from '../../shared/contract.js';
import type { ReservationRecord, ReservationStatus } from '../records.js';
import type { ClaimParams, ReservationRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

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

export class SqliteReservationRepository implements ReservationRepository {
  private readonly stmts;

  constructor(db: SqliteDatabase) {
    this.stmts = {
      // THE anti-double-booking write: one statement picks a free compartment and flips it,
      // and the outer WHERE re-checks 'free' so the row changes only if still free. On
      // PostgreSQL the inner SELECT gains FOR UPDATE SKIP LOCKED; the shape is the same.
      claim: db.prepare<Record<string, string | number | null>, { id: string }>(
        `UPDATE compartments SET state = @compartmentState, reservation_id = @id, hold_expires_at = @holdExpiresAt
          WHERE rowid = (
            SELECT c.rowid FROM compartments c JOIN lockers l ON l.id = c.locker_id
             WHERE c.locker_id = @lockerId AND c.state = 'free' AND c.size = @size AND c.id <> @exclude
               AND l.status = 'operating' AND (l.offline_since IS NULL OR l.offline_since > @offlineCutoff)
             ORDER BY c.id LIMIT 1)
            AND state = 'free'
          RETURNING id`,
      ),
      insert: db.prepare(
        `INSERT INTO reservations (id, order_ref, locker_id, size, compartment_id, status, expires_at, created_at, updated_at)
         VALUES (@id, @orderRef, @lockerId, @size, @compartmentId, @status, @expiresAt, @now, @now)`,
      ),
      get: db.prepare<[string], ReservationRow>('SELECT * FROM reservations WHERE id = ?'),
      confirm: db.prepare<{ id: string; orderId: string; now: number }>(
        `UPDATE reservations SET status = 'confirmed', order_id = @orderId, updated_at = @now
          WHERE id = @id AND status = 'held' AND expires_at > @now`,
      ),
      confirmCompartment: db.prepare<[string]>(
        `UPDATE compartments SET state = 'reserved', hold_expires_at = NULL WHERE reservation_id = ? AND state = 'held'`,
      ),
      release: db.prepare<{ id: string; status: string; now: number }, { locker_id: string; compartment_id: string }>(
        `UPDATE reservations SET status = @status, updated_at = @now WHERE id = @id AND status IN ('held', 'confirmed', 'consumed')
         RETURNING locker_id, compartment_id`,
      ),
      freeCompartment: db.prepare<[string, string, string]>(
        `UPDATE compartments SET state = 'free', reservation_id = NULL, hold_expires_at = NULL
          WHERE locker_id = ? AND id = ? AND reservation_id = ? AND state IN ('held', 'reserved')`,
      ),
      consume: db.prepare<{ id: string; shipmentId: string; now: number }>(
        `UPDATE reservations SET status = 'consumed', shipment_id = @shipmentId, updated_at = @now WHERE id = @id AND status = 'confirmed'`,
      ),
      due: db.prepare<[number, number], ReservationRow>(`SELECT * FROM reservations WHERE status = 'held' AND expires_at <= ? ORDER BY expires_at LIMIT ?`),
      dueFor: db.prepare<[number, string, string], ReservationRow>(
        `SELECT * FROM reservations WHERE status = 'held' AND expires_at <= ? AND locker_id = ? AND size = ?`,
      ),
      setCompartment: db.prepare<[string, number, string]>('UPDATE reservations SET compartment_id = ?, updated_at = ? WHERE id = ?'),
      byOrder: db.prepare<[string], ReservationRow>('SELECT * FROM reservations WHERE order_id = ? ORDER BY created_at, id'),
    };
  }

  claim(p: ClaimParams): ReservationRecord | undefined {
    let claimed = this.claimFree(p);
    if (claimed === undefined) {
      // Nothing free: holds on this locker and size that lapsed go back to the pool (lazy
      // release, same transaction) and the claim is tried once more, so a lapsed hold never
      // blocks a new customer. Done only on this path: the common case costs no extra read.
      const lapsed = this.stmts.dueFor.all(p.now, p.lockerId, p.size);
      for (const r of lapsed) this.release(r.id, 'expired', p.now);
      if (lapsed.length > 0) claimed = this.claimFree(p);
    }
    if (claimed === undefined) return undefined;
    this.stmts.insert.run({ id: p.id, orderRef: p.orderRef, lockerId: p.lockerId, size: p.size, compartmentId: claimed.id, status: p.status, expiresAt: p.expiresAt, now: p.now });
    return { id: p.id, orderRef: p.orderRef, lockerId: p.lockerId, size: p.size, compartmentId: claimed.id, status: p.status, expiresAt: p.expiresAt, createdAt: p.now };
  }

  private claimFree(p: ClaimParams): { id: string } | undefined {
    return this.stmts.claim.get({
      id: p.id,
      lockerId: p.lockerId,
      size: p.size,
      compartmentState: p.status === 'held' ? 'held' : 'reserved',
      holdExpiresAt: p.status === 'held' ? p.expiresAt : null,
      exclude: p.excludeCompartmentId ?? '',
      offlineCutoff: p.offlineCutoff,
    });
  }

  get(id: string): ReservationRecord | undefined {
    const row = this.stmts.get.get(id);
    return row === undefined ? undefined : toRecord(row);
  }

  confirm(id: string, orderId: string, now: number): boolean {
    if (this.stmts.confirm.run({ id, orderId, now }).changes !== 1) return false;
    this.stmts.confirmCompartment.run(id);
    return true;
  }

  release(id: string, status: 'released' | 'expired', now: number): boolean {
    const row = this.stmts.release.get({ id, status, now });
    if (row === undefined) return false;
    this.stmts.freeCompartment.run(row.locker_id, row.compartment_id, id);
    return true;
  }

  consume(id: string, shipmentId: string, now: number): boolean {
    return this.stmts.consume.run({ id, shipmentId, now }).changes === 1;
  }

  dueForExpiry(now: number, limit: number): ReservationRecord[] {
    return this.stmts.due.all(now, limit).map(toRecord);
  }

  relocate(id: string, excludeCompartmentId: string, now: number, offlineCutoff: number): string | undefined {
    const r = this.get(id);
    if (r === undefined || (r.status !== 'held' && r.status !== 'confirmed')) return undefined;
    const claimed = this.claimFree({ id, orderRef: r.orderRef, lockerId: r.lockerId, size: r.size, status: r.status, expiresAt: r.expiresAt, now, offlineCutoff, excludeCompartmentId });
    if (claimed === undefined) return undefined;
    this.stmts.setCompartment.run(claimed.id, now, id);
    return claimed.id;
  }

  byOrder(orderId: string): ReservationRecord[] {
    return this.stmts.byOrder.all(orderId).map(toRecord);
  }
}
