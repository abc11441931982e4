import { DeviceError } from '../errors.js';
import type { CompartmentSize } from '@locker/contract/tokens/claims.js';
import type { SqliteDatabase, Stmt } from './open-database.js';
import type { CompartmentRow, CompartmentStatus } from './runtime-store.js';

// Compartment state. The layout (ids, sizes) comes from config at every start; status,
// failures and the parcel inside persist. A compartment that disappears from the layout is
// deleted when empty; an occupied one is kept, out of service, so the fact that a parcel
// is inside is never lost to a config edit.

interface CompartmentDbRow {
  id: string;
  size: CompartmentSize;
  status: CompartmentStatus;
  failure_count: number;
  parcel_id: string | null;
  out_of_service_reason: string | null;
}

export const NOT_IN_LAYOUT_REASON = 'not-in-layout';

function toRow(r: CompartmentDbRow): CompartmentRow {
  const row: CompartmentRow = { id: r.id, size: r.size, status: r.status, failureCount: r.failure_count };
  if (r.parcel_id !== null) row.parcelId = r.parcel_id;
  if (r.out_of_service_reason !== null) row.outOfServiceReason = r.out_of_service_reason;
  return row;
}

export class CompartmentRepository {
  private readonly all: Stmt<[], CompartmentDbRow>;
  private readonly one: Stmt<[string], CompartmentDbRow>;
  private readonly upsertLayout: Stmt<{ id: string; size: string; at: number }>;
  private readonly dropIfEmpty: Stmt<[string]>;
  private readonly retire: Stmt<[string, number, string]>;
  private readonly setStatus: Stmt<{ id: string; status: string; parcelId: string | null; reason: string | null; at: number }>;
  private readonly incrementFailures: Stmt<[number, string], { failure_count: number }>;
  private readonly clearFailures: Stmt<[number, string]>;

  constructor(private readonly db: SqliteDatabase) {
    const columns = 'id, size, status, failure_count, parcel_id, out_of_service_reason';
    this.all = db.prepare<[], CompartmentDbRow>(`SELECT ${columns} FROM compartments ORDER BY id`);
    this.one = db.prepare<[string], CompartmentDbRow>(`SELECT ${columns} FROM compartments WHERE id = ?`);
    this.upsertLayout = db.prepare(
      `INSERT INTO compartments (id, size, status, failure_count, updated_at) VALUES (@id, @size, 'free', 0, @at)
       ON CONFLICT (id) DO UPDATE SET size = excluded.size,
         status = CASE WHEN out_of_service_reason = '${NOT_IN_LAYOUT_REASON}' THEN (CASE WHEN parcel_id IS NULL THEN 'free' ELSE 'occupied' END) ELSE status END,
         out_of_service_reason = CASE WHEN out_of_service_reason = '${NOT_IN_LAYOUT_REASON}' THEN NULL ELSE out_of_service_reason END,
         updated_at = CASE WHEN size = excluded.size THEN updated_at ELSE excluded.updated_at END`,
    );
    this.dropIfEmpty = db.prepare<[string]>(`DELETE FROM compartments WHERE id = ? AND status != 'occupied' AND parcel_id IS NULL`);
    this.retire = db.prepare<[string, number, string]>(
      `UPDATE compartments SET status = 'out-of-service', out_of_service_reason = ?, updated_at = ? WHERE id = ?`,
    );
    // free clears the parcel; out-of-service keeps it unless told (a parcel may be stuck inside).
    this.setStatus = db.prepare(
      `UPDATE compartments
          SET status = @status,
              parcel_id = CASE @status WHEN 'free' THEN NULL ELSE coalesce(@parcelId, parcel_id) END,
              out_of_service_reason = CASE @status WHEN 'out-of-service' THEN @reason ELSE NULL END,
              updated_at = @at
        WHERE id = @id`,
    );
    this.incrementFailures = db.prepare<[number, string], { failure_count: number }>(
      'UPDATE compartments SET failure_count = failure_count + 1, updated_at = ? WHERE id = ? RETURNING failure_count',
    );
    this.clearFailures = db.prepare<[number, string]>('UPDATE compartments SET failure_count = 0, updated_at = ? WHERE id = ?');
  }

  syncLayout(layout: ReadonlyArray<{ id: string; size: CompartmentSize }>, at: number): void {
    const ids = new Set(layout.map((c) => c.id));
    if (ids.size !== layout.length) throw new DeviceError('CONFIG_INVALID', 'compartment layout has duplicate ids');
    this.db.transaction(() => {
      for (const c of layout) this.upsertLayout.run({ id: c.id, size: c.size, at });
      for (const row of this.all.all()) {
        if (ids.has(row.id)) continue;
        if (this.dropIfEmpty.run(row.id).changes === 0) this.retire.run(NOT_IN_LAYOUT_REASON, at, row.id);
      }
    })();
  }

  list(): CompartmentRow[] {
    return this.all.all().map(toRow);
  }

  get(id: string): CompartmentRow | undefined {
    const row = this.one.get(id);
    return row === undefined ? undefined : toRow(row);
  }

  setStatusOf(id: string, status: CompartmentStatus, details: { parcelId?: string; reason?: string }, at: number): void {
    const changes = this.setStatus.run({ id, status, parcelId: details.parcelId ?? null, reason: details.reason ?? null, at }).changes;
    if (changes === 0) throw unknownCompartment(id);
  }

  recordFailure(id: string, at: number): number {
    const row = this.incrementFailures.get(at, id);
    if (row === undefined) throw unknownCompartment(id);
    return row.failure_count;
  }

  resetFailures(id: string, at: number): void {
    if (this.clearFailures.run(at, id).changes === 0) throw unknownCompartment(id);
  }
}

function unknownCompartment(id: string): DeviceError {
  return new DeviceError('STORE_NOT_FOUND', 'unknown compartment', { compartmentId: id });
}
