import type { DeviceHealthWire } from '../../shared/contract.js';
import type { HealthEpisodes, LockerHealthRecord } from '../records.js';
import type { LockerHealthRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// One row per locker: its latest health report (validated by the contract schema before it
// gets here) and the fault episodes open as of that report.

interface Row {
  locker_id: string;
  boot_id: string;
  sent_at: number;
  received_at: number;
  health_json: string;
  episodes_json: string;
}

export class SqliteLockerHealthRepository implements LockerHealthRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      get: db.prepare<[string], Row>('SELECT * FROM locker_health WHERE locker_id = ?'),
      put: db.prepare<Row>(
        `INSERT INTO locker_health (locker_id, boot_id, sent_at, received_at, health_json, episodes_json)
         VALUES (@locker_id, @boot_id, @sent_at, @received_at, @health_json, @episodes_json)
         ON CONFLICT (locker_id) DO UPDATE SET boot_id = excluded.boot_id, sent_at = excluded.sent_at, received_at = excluded.received_at,
           health_json = excluded.health_json, episodes_json = excluded.episodes_json`,
      ),
    };
  }
  get(lockerId: string): LockerHealthRecord | undefined {
    const r = this.s.get.get(lockerId);
    if (r === undefined) return undefined;
    return {
      lockerId: r.locker_id,
      bootId: r.boot_id,
      sentAt: r.sent_at,
      receivedAt: r.received_at,
      health: JSON.parse(r.health_json) as DeviceHealthWire,
      episodes: JSON.parse(r.episodes_json) as HealthEpisodes,
    };
  }
  put(h: LockerHealthRecord): void {
    this.s.put.run({ locker_id: h.lockerId, boot_id: h.bootId, sent_at: h.sentAt, received_at: h.receivedAt, health_json: JSON.stringify(h.health), episodes_json: JSON.stringify(h.episodes) });
  }
}
