import { z } from 'zod';
import { DeviceHealthWire } from '../../shared/contract.js';
import type { HealthEpisodes, LockerHealthRecord } from '../records.js';
import type { LockerHealthRepository } from '../store.js';
import { readJson } from './json-column.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql } from './sql-text.js';

// One row per locker: its latest health report (validated by the contract schema before it
// gets here, and read back through it) and the fault episodes open as of that report.

interface Row {
  locker_id: string;
  boot_id: string;
  sent_at: number;
  received_at: number;
  health_json: string;
  episodes_json: string;
}

/** What episodes_json holds (records.ts HealthEpisodes). */
const StoredEpisodes = z
  .object({
    outOfService: z.record(z.string(), z.number()),
    lockoutSince: z.number().optional(),
    storageUnwritableSince: z.number().optional(),
    storageReserveReleasedSince: z.number().optional(),
  })
  .strict();

function toEpisodes(lockerId: string, text: string): HealthEpisodes {
  const e = readJson(StoredEpisodes, text, { table: 'locker_health', key: { locker_id: lockerId }, column: 'episodes_json' });
  // Rebuilt rather than returned: an absent lockoutSince stays absent (exact optional types).
  const out: HealthEpisodes = { outOfService: e.outOfService };
  if (e.lockoutSince !== undefined) out.lockoutSince = e.lockoutSince;
  if (e.storageUnwritableSince !== undefined) out.storageUnwritableSince = e.storageUnwritableSince;
  if (e.storageReserveReleasedSince !== undefined) out.storageReserveReleasedSince = e.storageReserveReleasedSince;
  return out;
}

const get = sql('SELECT locker_id, boot_id, sent_at, received_at, health_json, episodes_json FROM locker_health WHERE locker_id = ?');
// Keyset pages in locker order: a scrape walks the fleet a page at a time (GET /metrics).
const page = sql('SELECT locker_id, boot_id, sent_at, received_at, health_json, episodes_json FROM locker_health WHERE locker_id > ? ORDER BY locker_id LIMIT ?');
const put = sql(
  `INSERT INTO locker_health (locker_id, boot_id, sent_at, received_at, health_json, episodes_json)
   VALUES (@lockerId, @bootId, @sentAt, @receivedAt, @health, @episodes)
   ON CONFLICT (locker_id) DO UPDATE SET boot_id = excluded.boot_id, sent_at = excluded.sent_at, received_at = excluded.received_at,
     health_json = excluded.health_json, episodes_json = excluded.episodes_json`,
);

function recordOf(r: Row): LockerHealthRecord {
  return {
    lockerId: r.locker_id,
    bootId: r.boot_id,
    sentAt: r.sent_at,
    receivedAt: r.received_at,
    health: readJson(DeviceHealthWire, r.health_json, { table: 'locker_health', key: { locker_id: r.locker_id }, column: 'health_json' }),
    episodes: toEpisodes(r.locker_id, r.episodes_json),
  };
}

export class SqlLockerHealthRepository implements LockerHealthRepository {
  constructor(private readonly x: SqlExecutor) {}

  async get(lockerId: string): Promise<LockerHealthRecord | undefined> {
    const r = await this.x.one<Row>(get, [lockerId]);
    return r === undefined ? undefined : recordOf(r);
  }

  async page(afterLockerId: string, limit: number): Promise<LockerHealthRecord[]> {
    return (await this.x.all<Row>(page, [afterLockerId, limit])).map(recordOf);
  }

  async put(h: LockerHealthRecord): Promise<void> {
    await this.x.run(put, {
      lockerId: h.lockerId,
      bootId: h.bootId,
      sentAt: h.sentAt,
      receivedAt: h.receivedAt,
      health: JSON.stringify(h.health),
      episodes: JSON.stringify(h.episodes),
    });
  }
}
