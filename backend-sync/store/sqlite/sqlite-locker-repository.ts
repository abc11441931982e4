import type { CompartmentSize } from '../../shared/contract.js';
import { boundingBox, haversineM } from '../../lockers/geo.js';
import type { Address, CompartmentInput, CompartmentState, Locker, LockerDetail, LockerInput, LockerStatus, OpeningHours, SearchHit } from '../../lockers/locker-schemas.js';
import type { LockerListParams, LockerRepository, SearchParams } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

interface LockerRow {
  rid: number;
  id: string;
  name: string;
  lat: number;
  lng: number;
  address_json: string;
  opening_hours_json: string;
  status: LockerStatus;
  online: number;
  offline_since: number | null;
  created_at: number;
}

interface CompartmentRow {
  id: string;
  size: CompartmentSize;
  width_mm: number;
  height_mm: number;
  depth_mm: number;
  state: CompartmentState;
  reservation_id: string | null;
  hold_expires_at: number | null;
}

interface SearchRow {
  id: string;
  name: string;
  lat: number;
  lng: number;
  address_json: string;
  s: number;
  m: number;
  l: number;
  xl: number;
}

function toLocker(r: LockerRow): Locker {
  const locker: Locker = {
    id: r.id,
    name: r.name,
    location: { lat: r.lat, lng: r.lng },
    address: JSON.parse(r.address_json) as Address,
    openingHours: JSON.parse(r.opening_hours_json) as OpeningHours,
    status: r.status,
    online: r.online === 1,
    createdAt: r.created_at,
  };
  if (r.offline_since !== null) locker.offlineSince = r.offline_since;
  return locker;
}

// A compartment whose hold has expired is free in effect: reads treat it so (lazy release)
// and the next claim or the sweeper makes it so in the table.
const AVAILABLE = `c.state IN ('free', 'held') AND (c.state = 'free' OR c.hold_expires_at <= @now)`;

export class SqliteLockerRepository implements LockerRepository {
  private readonly stmts;

  constructor(private readonly db: SqliteDatabase) {
    this.stmts = {
      insertLocker: db.prepare(
        `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
         VALUES (@id, @name, @lat, @lng, @address, @hours, @status, @pepper, @now) ON CONFLICT (id) DO NOTHING`,
      ),
      insertGeo: db.prepare('INSERT INTO locker_geo (rid, min_lat, max_lat, min_lng, max_lng) VALUES (?, ?, ?, ?, ?)'),
      insertCompartment: db.prepare(
        `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state)
         VALUES (@lockerId, @id, @size, @w, @h, @d, 'free')`,
      ),
      get: db.prepare<[string], LockerRow>('SELECT * FROM lockers WHERE id = ?'),
      gate: db.prepare<[string], { status: LockerStatus; offline_since: number | null }>('SELECT status, offline_since FROM lockers WHERE id = ?'),
      ids: db.prepare<[], { id: string }>('SELECT id FROM lockers ORDER BY id'),
      page: db.prepare<[string, string | null, string | null, number], LockerRow>(
        'SELECT * FROM lockers WHERE id > ? AND (? IS NULL OR status = ?) ORDER BY id LIMIT ?',
      ),
      pepper: db.prepare<[string], { code_pepper: Buffer }>('SELECT code_pepper FROM lockers WHERE id = ?'),
      compartments: db.prepare<[string], CompartmentRow>('SELECT * FROM compartments WHERE locker_id = ? ORDER BY id'),
      compartment: db.prepare<[string, string], CompartmentRow>('SELECT * FROM compartments WHERE locker_id = ? AND id = ?'),
      setStatus: db.prepare<[string, string]>('UPDATE lockers SET status = ? WHERE id = ?'),
      setPresence: db.prepare(
        `UPDATE lockers SET online = @online,
           offline_since = CASE WHEN @online = 1 THEN NULL ELSE COALESCE(offline_since, @at) END,
           presence_json = COALESCE(@presence, presence_json) WHERE id = @id`,
      ),
      search: db.prepare<Record<string, number>, SearchRow>(
        // CROSS JOIN fixes the join order: the R*Tree box first, then each candidate's row
        // and its free compartments by index. (A plain JOIN let the planner scan lockers.)
        `SELECT l.id, l.name, l.lat, l.lng, l.address_json,
                count(CASE WHEN c.size = 'S' THEN 1 END) AS s, count(CASE WHEN c.size = 'M' THEN 1 END) AS m,
                count(CASE WHEN c.size = 'L' THEN 1 END) AS l, count(CASE WHEN c.size = 'XL' THEN 1 END) AS xl
           FROM locker_geo g CROSS JOIN lockers l ON l.rid = g.rid
           LEFT JOIN compartments c ON c.locker_id = l.id AND ${AVAILABLE}
          WHERE g.min_lat <= @maxLat AND g.max_lat >= @minLat AND g.min_lng <= @maxLng AND g.max_lng >= @minLng
            AND l.status = 'operating' AND (l.offline_since IS NULL OR l.offline_since > @offlineCutoff)
          GROUP BY g.rid`,
      ),
    };
  }

  insert(input: LockerInput, pepper: Buffer, now: number): boolean {
    const s = this.stmts;
    const res = s.insertLocker.run({
      id: input.id,
      name: input.name,
      lat: input.location.lat,
      lng: input.location.lng,
      address: JSON.stringify(input.address),
      hours: JSON.stringify(input.openingHours),
      status: input.status,
      pepper,
      now,
    });
    if (res.changes === 0) return false;
    const { lat, lng } = input.location;
    s.insertGeo.run(res.lastInsertRowid, lat, lat, lng, lng);
    for (const c of input.compartments) {
      s.insertCompartment.run({ lockerId: input.id, id: c.id, size: c.size, w: c.dimensions.widthMm, h: c.dimensions.heightMm, d: c.dimensions.depthMm });
    }
    return true;
  }

  get(id: string): Locker | undefined {
    const row = this.stmts.get.get(id);
    return row === undefined ? undefined : toLocker(row);
  }

  list(params: LockerListParams): Locker[] {
    const status = params.status ?? null;
    return this.stmts.page.all(params.afterId ?? '', status, status, params.limit).map(toLocker);
  }

  gate(id: string): { status: LockerStatus; offlineSince: number | null } | undefined {
    const r = this.stmts.gate.get(id);
    return r === undefined ? undefined : { status: r.status, offlineSince: r.offline_since };
  }

  detail(id: string, now: number): LockerDetail | undefined {
    const locker = this.get(id);
    if (locker === undefined) return undefined;
    const compartments = this.stmts.compartments.all(id).map((c) => ({
      id: c.id,
      size: c.size,
      dimensions: { widthMm: c.width_mm, heightMm: c.height_mm, depthMm: c.depth_mm },
      // An expired hold reads as free (lazy release).
      state: c.state === 'held' && c.hold_expires_at !== null && c.hold_expires_at <= now ? ('free' as const) : c.state,
    }));
    return { ...locker, compartments };
  }

  ids(): string[] {
    return this.stmts.ids.all().map((r) => r.id);
  }

  pepper(id: string): Buffer | undefined {
    return this.stmts.pepper.get(id)?.code_pepper;
  }

  search(p: SearchParams): SearchHit[] {
    const box = boundingBox(p.lat, p.lng, p.radiusM);
    const rows = this.stmts.search.all({ ...box, now: p.now, offlineCutoff: p.offlineCutoff });
    const near: Array<{ r: SearchRow; distanceM: number }> = [];
    for (const r of rows) {
      const distanceM = Math.round(haversineM(p.lat, p.lng, r.lat, r.lng));
      if (distanceM > p.radiusM) continue;
      if (p.size !== undefined && { S: r.s, M: r.m, L: r.l, XL: r.xl }[p.size] === 0) continue;
      near.push({ r, distanceM });
    }
    near.sort((a, b) => a.distanceM - b.distanceM || (a.r.id < b.r.id ? -1 : 1));
    // Addresses are decoded only for the hits returned.
    return near.slice(0, p.limit).map(({ r, distanceM }) => ({
      lockerId: r.id,
      name: r.name,
      location: { lat: r.lat, lng: r.lng },
      address: JSON.parse(r.address_json) as Address,
      distanceM,
      available: { S: r.s, M: r.m, L: r.l, XL: r.xl },
    }));
  }

  setStatus(id: string, status: LockerStatus): boolean {
    return this.stmts.setStatus.run(status, id).changes === 1;
  }

  setPresence(id: string, online: boolean, at: number, presenceJson: string | undefined): void {
    this.stmts.setPresence.run({ id, online: online ? 1 : 0, at, presence: presenceJson ?? null });
  }

  setCompartmentState(lockerId: string, compartmentId: string, from: readonly CompartmentState[], to: CompartmentState, reservationId?: string | null): boolean {
    const placeholders = from.map(() => '?').join(', ');
    const setReservation = reservationId === undefined ? '' : ', reservation_id = ?';
    const args: unknown[] = [to];
    if (reservationId !== undefined) args.push(reservationId);
    args.push(lockerId, compartmentId, ...from);
    // Statement text varies with `from`; better-sqlite3 caches nothing here, but these are rare writes.
    return (
      this.db
        .prepare(`UPDATE compartments SET state = ?, hold_expires_at = NULL${setReservation} WHERE locker_id = ? AND id = ? AND state IN (${placeholders})`)
        .run(...args).changes === 1
    );
  }

  compartment(lockerId: string, compartmentId: string): (CompartmentInput & { state: CompartmentState; reservationId?: string }) | undefined {
    const c = this.stmts.compartment.get(lockerId, compartmentId);
    if (c === undefined) return undefined;
    const out: CompartmentInput & { state: CompartmentState; reservationId?: string } = {
      id: c.id,
      size: c.size,
      dimensions: { widthMm: c.width_mm, heightMm: c.height_mm, depthMm: c.depth_mm },
      state: c.state,
    };
    if (c.reservation_id !== null) out.reservationId = c.reservation_id;
    return out;
  }
}
