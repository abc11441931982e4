import type { AlertRecord, SigningKeyRecord } from '../records.js';
import type { AlertRepository, SigningKeyRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Operator alerts and the signing keys ever seen: small append-mostly tables.

export class SqliteAlertRepository implements AlertRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      raise: db.prepare(
        'INSERT INTO alerts (id, locker_id, kind, dedupe_key, details_json, at) VALUES (@id, @lockerId, @kind, @dedupeKey, @details, @at) ON CONFLICT (dedupe_key) DO NOTHING',
      ),
      all: db.prepare<[], { id: string; locker_id: string; kind: string; details_json: string; at: number }>('SELECT * FROM alerts ORDER BY at, id'),
      byLocker: db.prepare<[string], { id: string; locker_id: string; kind: string; details_json: string; at: number }>('SELECT * FROM alerts WHERE locker_id = ? ORDER BY at, id'),
    };
  }
  raise(a: AlertRecord, dedupeKey: string): boolean {
    return this.s.raise.run({ id: a.id, lockerId: a.lockerId, kind: a.kind, dedupeKey, details: JSON.stringify(a.details), at: a.at }).changes === 1;
  }
  list(lockerId?: string): AlertRecord[] {
    const rows = lockerId === undefined ? this.s.all.all() : this.s.byLocker.all(lockerId);
    return rows.map((r) => ({ id: r.id, lockerId: r.locker_id, kind: r.kind, details: JSON.parse(r.details_json) as Record<string, unknown>, at: r.at }));
  }
}

export class SqliteSigningKeyRepository implements SigningKeyRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      upsert: db.prepare<[string, string, number]>('INSERT INTO signing_keys (kid, public_key, first_seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      all: db.prepare<[], { kid: string; public_key: string; first_seen_at: number; retired_at: number | null; revoked_at: number | null }>('SELECT * FROM signing_keys ORDER BY kid'),
      retire: db.prepare<[number, string]>('UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL'),
      revoke: db.prepare<[number, string]>('UPDATE signing_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL'),
    };
  }
  upsertSeen(kid: string, publicKey: string, at: number): void {
    this.s.upsert.run(kid, publicKey, at);
  }
  all(): SigningKeyRecord[] {
    return this.s.all.all().map((r) => {
      const k: SigningKeyRecord = { kid: r.kid, publicKey: r.public_key, firstSeenAt: r.first_seen_at };
      if (r.retired_at !== null) k.retiredAt = r.retired_at;
      if (r.revoked_at !== null) k.revokedAt = r.revoked_at;
      return k;
    });
  }
  retire(kid: string, at: number): void {
    this.s.retire.run(at, kid);
  }
  revoke(kid: string, at: number): boolean {
    return this.s.revoke.run(at, kid).changes === 1;
  }
}
