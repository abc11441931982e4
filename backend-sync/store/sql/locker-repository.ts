import type { CompartmentSize } from '../../shared/contract.js';
import { boundingBox, haversineM } from '../../lockers/geo.js';
import {
  Address,
  OpeningHours,
  type CompartmentInput,
  type CompartmentState,
  type Locker,
  type LockerDetail,
  type LockerInput,
  type LockerStatus,
  type SearchHit,
} from '../../lockers/locker-schemas.js';
import type { LockerListParams, LockerRepository, SearchParams } from '../store.js';
import { readJson } from './json-column.js';
import { atomically, type SqlExecutor } from './sql-executor.js';
import { sql, sqlPer, type SqlValue } from './sql-text.js';

interface LockerRow {
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

const address = (id: string, text: string): Address => readJson(Address, text, { table: 'lockers', key: { id }, column: 'address_json' });

function toLocker(r: LockerRow): Locker {
  const locker: Locker = {
    id: r.id,
    name: r.name,
    location: { lat: r.lat, lng: r.lng },
    address: address(r.id, r.address_json),
    openingHours: readJson(OpeningHours, r.opening_hours_json, { table: 'lockers', key: { id: r.id }, column: 'opening_hours_json' }),
    status: r.status,
    online: r.online === 1,
    createdAt: r.created_at,
  };
  if (r.offline_since !== null) locker.offlineSince = r.offline_since;
  return locker;
}

const LOCKER_COLUMNS = 'id, name, lat, lng, address_json, opening_hours_json, status, online, offline_since, created_at';
const COMPARTMENT_COLUMNS = 'id, size, width_mm, height_mm, depth_mm, state, reservation_id, hold_expires_at';

// RETURNING rid: SQLite keys the R*Tree (locker_geo) on the locker's rowid.
const insertLocker = sql(
  `INSERT INTO lockers (id, name, lat, lng, address_json, opening_hours_json, status, code_pepper, created_at)
   VALUES (@id, @name, @lat, @lng, @address, @hours, @status, @pepper, @now) ON CONFLICT (id) DO NOTHING
   RETURNING rid`,
);
// SQLite only: PostgreSQL indexes point(lng, lat) on the lockers table itself (GiST).
const insertGeo = sql('INSERT INTO locker_geo (rid, min_lat, max_lat, min_lng, max_lng) VALUES (?, ?, ?, ?, ?)');
// All of a locker's compartments in one statement (up to 500): one round trip on PostgreSQL
// instead of one per compartment. The JSON is built here from validated input.
const insertCompartments = sqlPer({
  sqlite: `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state)
    SELECT @lockerId, j.value ->> 'id', j.value ->> 'size', j.value ->> 'w', j.value ->> 'h', j.value ->> 'd', 'free'
      FROM json_each(@compartments) j`,
  postgres: `INSERT INTO compartments (locker_id, id, size, width_mm, height_mm, depth_mm, state)
    SELECT @lockerId, c.id, c.size, c.w, c.h, c.d, 'free'
      FROM json_to_recordset(@compartments::json) AS c (id TEXT, size TEXT, w INTEGER, h INTEGER, d INTEGER)`,
});
const get = sql(`SELECT ${LOCKER_COLUMNS} FROM lockers WHERE id = ?`);
const gate = sql('SELECT status, offline_since FROM lockers WHERE id = ?');
const lockRow = sqlPer({ sqlite: 'SELECT 1 AS one FROM lockers WHERE id = ?', postgres: 'SELECT 1 AS one FROM lockers WHERE id = ? FOR UPDATE' });
const ids = sql('SELECT id FROM lockers ORDER BY id');
const page = sql(`SELECT ${LOCKER_COLUMNS} FROM lockers WHERE id > ? ORDER BY id LIMIT ?`);
const pageByStatus = sql(`SELECT ${LOCKER_COLUMNS} FROM lockers WHERE id > ? AND status = ? ORDER BY id LIMIT ?`);
const pepper = sql('SELECT code_pepper FROM lockers WHERE id = ?');
const compartments = sql(`SELECT ${COMPARTMENT_COLUMNS} FROM compartments WHERE locker_id = ? ORDER BY id`);
const compartment = sql(`SELECT ${COMPARTMENT_COLUMNS} FROM compartments WHERE locker_id = ? AND id = ?`);
const setStatus = sql('UPDATE lockers SET status = ? WHERE id = ?');
const setPresence = sql(
  `UPDATE lockers SET online = @online,
     offline_since = CASE WHEN @online = 1 THEN NULL ELSE COALESCE(offline_since, @at) END,
     presence_json = COALESCE(@presence, presence_json) WHERE id = @id`,
);
// `from` is bound to five slots (there are five compartment states), unused ones NULL: one
// statement text for every call, so it is prepared once per connection.
const FROM_SLOTS = 5;
const FROM_IN = 'state IN (@f0, @f1, @f2, @f3, @f4)';
const setState = sql(`UPDATE compartments SET state = @to, hold_expires_at = NULL WHERE locker_id = @lockerId AND id = @id AND ${FROM_IN}`);
const setStateAndReservation = sql(
  `UPDATE compartments SET state = @to, hold_expires_at = NULL, reservation_id = @reservationId
    WHERE locker_id = @lockerId AND id = @id AND ${FROM_IN}`,
);
const freeReservedFor = sql(
  `UPDATE compartments SET state = 'free', reservation_id = NULL, hold_expires_at = NULL
    WHERE locker_id = @lockerId AND id = @id AND state = 'reserved' AND coalesce(reservation_id, '') = coalesce(@reservationId, '')`,
);
const restoreCompartment = sql(
  `UPDATE compartments SET state = @to, reservation_id = @reservationId, hold_expires_at = @holdExpiresAt
    WHERE locker_id = @lockerId AND id = @id AND state = 'out_of_service'`,
);

// A compartment whose hold has expired is free in effect: reads treat it so (lazy release)
// and the next claim or the sweeper makes it so in the table.
const AVAILABLE = `c.state IN ('free', 'held') AND (c.state = 'free' OR c.hold_expires_at <= @now)`;
/** The nearby search's first circle; it doubles until it holds the hits asked for (search()). */
const FIRST_CIRCLE_M = 2_000;

/** The nearby search's candidate query (exported for the plan test: it must start from the spatial index). */
export const nearbyCandidates = sqlPer({
  // CROSS JOIN fixes the join order: the R*Tree box first, then each candidate's row and its
  // compartments by primary key (clustered by locker: one page). (A plain JOIN let the
  // planner scan lockers.)
  sqlite: `SELECT l.id, l.name, l.lat, l.lng, l.address_json,
                  count(CASE WHEN c.size = 'S' THEN 1 END) AS s, count(CASE WHEN c.size = 'M' THEN 1 END) AS m,
                  count(CASE WHEN c.size = 'L' THEN 1 END) AS l, count(CASE WHEN c.size = 'XL' THEN 1 END) AS xl
             FROM locker_geo g CROSS JOIN lockers l ON l.rid = g.rid
             LEFT JOIN compartments c ON c.locker_id = l.id AND ${AVAILABLE}
            WHERE g.min_lat <= @maxLat AND g.max_lat >= @minLat AND g.min_lng <= @maxLng AND g.max_lng >= @minLng
              AND l.status = 'operating' AND (l.offline_since IS NULL OR l.offline_since > @offlineCutoff)
            GROUP BY g.rid`,
  // The box test is written exactly as the GiST index's expression, point(lng, lat), so the
  // planner takes the index; each candidate's availability is then counted from the covering
  // index compartments_by_state (an index-only scan per locker).
  postgres: `SELECT l.id, l.name, l.lat, l.lng, l.address_json, a.s, a.m, a.l, a.xl
               FROM lockers l
               CROSS JOIN LATERAL (
                 SELECT count(*) FILTER (WHERE c.size = 'S') AS s, count(*) FILTER (WHERE c.size = 'M') AS m,
                        count(*) FILTER (WHERE c.size = 'L') AS l, count(*) FILTER (WHERE c.size = 'XL') AS xl
                   FROM compartments c WHERE c.locker_id = l.id AND ${AVAILABLE}
               ) a
              WHERE point(l.lng, l.lat) <@ box(point(@minLng, @minLat), point(@maxLng, @maxLat))
                AND l.status = 'operating' AND (l.offline_since IS NULL OR l.offline_since > @offlineCutoff)`,
});

type StoredCompartment = CompartmentInput & { state: CompartmentState; reservationId?: string };

export class SqlLockerRepository implements LockerRepository {
  constructor(private readonly x: SqlExecutor) {}

  insert(input: LockerInput, pepperBytes: Buffer, now: number): Promise<boolean> {
    return atomically(this.x, async () => {
      const { lat, lng } = input.location;
      const row = await this.x.one<{ rid: number }>(insertLocker, {
        id: input.id,
        name: input.name,
        lat,
        lng,
        address: JSON.stringify(input.address),
        hours: JSON.stringify(input.openingHours),
        status: input.status,
        pepper: pepperBytes,
        now,
      });
      if (row === undefined) return false;
      if (this.x.engine === 'sqlite') await this.x.run(insertGeo, [row.rid, lat, lat, lng, lng]);
      const list = input.compartments.map((c) => ({ id: c.id, size: c.size, w: c.dimensions.widthMm, h: c.dimensions.heightMm, d: c.dimensions.depthMm }));
      await this.x.run(insertCompartments, { lockerId: input.id, compartments: JSON.stringify(list) });
      return true;
    });
  }

  async get(id: string): Promise<Locker | undefined> {
    const row = await this.x.one<LockerRow>(get, [id]);
    return row === undefined ? undefined : toLocker(row);
  }

  async list(params: LockerListParams): Promise<Locker[]> {
    const after = params.afterId ?? '';
    const rows =
      params.status === undefined
        ? await this.x.all<LockerRow>(page, [after, params.limit])
        : await this.x.all<LockerRow>(pageByStatus, [after, params.status, params.limit]);
    return rows.map(toLocker);
  }

  async lockRow(id: string): Promise<boolean> {
    return (await this.x.one<{ one: number }>(lockRow, [id])) !== undefined;
  }

  async gate(id: string): Promise<{ status: LockerStatus; offlineSince: number | null } | undefined> {
    const r = await this.x.one<{ status: LockerStatus; offline_since: number | null }>(gate, [id]);
    return r === undefined ? undefined : { status: r.status, offlineSince: r.offline_since };
  }

  async detail(id: string, now: number): Promise<LockerDetail | undefined> {
    const locker = await this.get(id);
    if (locker === undefined) return undefined;
    const rows = await this.x.all<CompartmentRow>(compartments, [id]);
    return {
      ...locker,
      compartments: rows.map((c) => ({
        id: c.id,
        size: c.size,
        dimensions: { widthMm: c.width_mm, heightMm: c.height_mm, depthMm: c.depth_mm },
        // An expired hold reads as free (lazy release).
        state: c.state === 'held' && c.hold_expires_at !== null && c.hold_expires_at <= now ? ('free' as const) : c.state,
      })),
    };
  }

  async ids(): Promise<string[]> {
    return (await this.x.all<{ id: string }>(ids)).map((r) => r.id);
  }

  async pepper(id: string): Promise<Buffer | undefined> {
    return (await this.x.one<{ code_pepper: Buffer }>(pepper, [id]))?.code_pepper;
  }

  // Nearest first, in widening circles: the candidates of a circle are every locker in its
  // box with its availability counted, so a 50 km search over a metro estate read and
  // counted thousands of lockers (181 ms) to return 20. A circle that already holds `limit`
  // hits holds the nearest ones (everything outside it is farther than all of them); else
  // the radius doubles, up to the one asked for.
  async search(p: SearchParams): Promise<SearchHit[]> {
    for (let radiusM = Math.min(p.radiusM, FIRST_CIRCLE_M); ; radiusM = Math.min(p.radiusM, radiusM * 2)) {
      const near = await this.within(p, radiusM);
      // Strictly inside: a locker just outside the box may round to the circle's own distance.
      const last = near[p.limit - 1];
      if ((last !== undefined && last.distanceM < radiusM) || radiusM >= p.radiusM) return this.hits(near.slice(0, p.limit));
    }
  }

  /** Every hit within `radiusM`, nearest first (ties by id). */
  private async within(p: SearchParams, radiusM: number): Promise<Array<{ r: SearchRow; distanceM: number }>> {
    const box = boundingBox(p.lat, p.lng, radiusM);
    const rows = await this.x.all<SearchRow>(nearbyCandidates, { ...box, now: p.now, offlineCutoff: p.offlineCutoff });
    const near: Array<{ r: SearchRow; distanceM: number }> = [];
    for (const r of rows) {
      const distanceM = Math.round(haversineM(p.lat, p.lng, r.lat, r.lng));
      if (distanceM > radiusM) continue;
      if (p.size !== undefined && { S: r.s, M: r.m, L: r.l, XL: r.xl }[p.size] === 0) continue;
      near.push({ r, distanceM });
    }
    return near.sort((a, b) => a.distanceM - b.distanceM || (a.r.id < b.r.id ? -1 : 1));
  }

  private hits(near: ReadonlyArray<{ r: SearchRow; distanceM: number }>): SearchHit[] {
    // Addresses are decoded only for the hits returned.
    return near.map(({ r, distanceM }) => ({
      lockerId: r.id,
      name: r.name,
      location: { lat: r.lat, lng: r.lng },
      address: address(r.id, r.address_json),
      distanceM,
      available: { S: r.s, M: r.m, L: r.l, XL: r.xl },
    }));
  }

  async setStatus(id: string, status: LockerStatus): Promise<boolean> {
    return (await this.x.run(setStatus, [status, id])) === 1;
  }

  async setPresence(id: string, online: boolean, at: number, presenceJson: string | undefined): Promise<void> {
    await this.x.run(setPresence, { id, online: online ? 1 : 0, at, presence: presenceJson ?? null });
  }

  async setCompartmentState(lockerId: string, compartmentId: string, from: readonly CompartmentState[], to: CompartmentState, reservationId?: string | null): Promise<boolean> {
    const states: SqlValue[] = [...new Set(from)];
    const slots: Record<string, SqlValue> = { lockerId, id: compartmentId, to };
    for (let i = 0; i < FROM_SLOTS; i++) slots[`f${String(i)}`] = states[i] ?? null;
    const changed = reservationId === undefined ? await this.x.run(setState, slots) : await this.x.run(setStateAndReservation, { ...slots, reservationId });
    return changed === 1;
  }

  async freeReservedFor(lockerId: string, compartmentId: string, reservationId: string | null): Promise<boolean> {
    return (await this.x.run(freeReservedFor, { lockerId, id: compartmentId, reservationId })) === 1;
  }

  async restoreCompartment(lockerId: string, compartmentId: string, to: CompartmentState, reservationId: string | null, holdExpiresAt: number | null): Promise<boolean> {
    return (await this.x.run(restoreCompartment, { lockerId, id: compartmentId, to, reservationId, holdExpiresAt })) === 1;
  }

  async compartment(lockerId: string, compartmentId: string): Promise<StoredCompartment | undefined> {
    const c = await this.x.one<CompartmentRow>(compartment, [lockerId, compartmentId]);
    if (c === undefined) return undefined;
    const out: StoredCompartment = {
      id: c.id,
      size: c.size,
      dimensions: { widthMm: c.width_mm, heightMm: c.height_mm, depthMm: c.depth_mm },
      state: c.state,
    };
    if (c.reservation_id !== null) out.reservationId = c.reservation_id;
    return out;
  }
}
