import { DeviceError } from '../errors.js';
import type { SqliteDatabase, Stmt } from './open-database.js';

// Small JSON documents owned by pure policies (rate limiter, clock trust). Replaced whole in
// one statement: never a file rewritten in place.

export class StateBlobs {
  private readonly select: Stmt<[string], { json: string }>;
  private readonly upsert: Stmt<[string, string, number]>;

  constructor(db: SqliteDatabase) {
    this.select = db.prepare<[string], { json: string }>('SELECT json FROM state_blobs WHERE key = ?');
    this.upsert = db.prepare<[string, string, number]>(
      `INSERT INTO state_blobs (key, json, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET json = excluded.json, updated_at = excluded.updated_at`,
    );
  }

  load(key: string): string | undefined {
    return this.select.get(key)?.json;
  }

  /** Refuses text that is not JSON: a policy would otherwise fail to load it after a restart. */
  save(key: string, json: string, at: number): void {
    try {
      JSON.parse(json);
    } catch (err) {
      throw new DeviceError('INTERNAL', 'state blob is not valid JSON', { key }, { cause: err });
    }
    this.upsert.run(key, json, at);
  }
}
