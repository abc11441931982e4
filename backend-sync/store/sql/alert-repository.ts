import { z } from 'zod';
import type { AlertRecord, SigningKeyRecord } from '../records.js';
import type { AlertRepository, SigningKeyRepository } from '../store.js';
import { readJson } from './json-column.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// Operator alerts and the signing keys ever seen: small append-mostly tables. Both are
// written by whichever instance sees the event first; the dedupe key (alerts) and the kid
// (keys) make the second write a no-op.

/** details_json: a JSON object of whatever the raiser recorded. */
const AlertDetails = z.record(z.string(), z.unknown());

interface AlertRow {
  id: string;
  locker_id: string;
  kind: string;
  details_json: string;
  at: number;
}

const ALERT_COLUMNS = 'id, locker_id, kind, details_json, at';
const raise = sql(
  `INSERT INTO alerts (id, locker_id, kind, dedupe_key, details_json, at) VALUES (@id, @lockerId, @kind, @dedupeKey, @details, @at)
   ON CONFLICT (dedupe_key) DO NOTHING`,
);
const all = sql(`SELECT ${ALERT_COLUMNS} FROM alerts ORDER BY at, id`);
const byLocker = sql(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE locker_id = ? ORDER BY at, id`);
// Newest first by (at, id), strictly before the cursor: pages never overlap. An alert
// committed by another instance after a reader paged past its `at` is not in that reader's
// later pages (the next walk from the top shows it). Row values compare as the index is ordered.
const pageAll = sql(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE (at, id) < (@at, @id) ORDER BY at DESC, id DESC LIMIT @limit`);
const pageByLocker = sql(`SELECT ${ALERT_COLUMNS} FROM alerts WHERE locker_id = @lockerId AND (at, id) < (@at, @id) ORDER BY at DESC, id DESC LIMIT @limit`);
/** A cursor past every alert: before the first page. */
const NEWEST = { at: Number.MAX_SAFE_INTEGER, id: '' };

const toAlert = (r: AlertRow): AlertRecord => ({
  id: r.id,
  lockerId: r.locker_id,
  kind: r.kind,
  details: readJson(AlertDetails, r.details_json, { table: 'alerts', key: { id: r.id }, column: 'details_json' }),
  at: r.at,
});

export class SqlAlertRepository implements AlertRepository {
  constructor(private readonly x: SqlExecutor) {}

  async raise(a: AlertRecord, dedupeKey: string): Promise<boolean> {
    return (await this.x.run(raise, { id: a.id, lockerId: a.lockerId, kind: a.kind, dedupeKey, details: JSON.stringify(a.details), at: a.at })) === 1;
  }

  async page(q: { lockerId?: string | undefined; before?: { at: number; id: string } | undefined; limit: number }): Promise<AlertRecord[]> {
    const before = q.before ?? NEWEST;
    const params = { at: before.at, id: before.id, limit: q.limit };
    const rows = q.lockerId === undefined ? await this.x.all<AlertRow>(pageAll, params) : await this.x.all<AlertRow>(pageByLocker, { ...params, lockerId: q.lockerId });
    return rows.map(toAlert);
  }

  async list(lockerId?: string): Promise<AlertRecord[]> {
    const rows = lockerId === undefined ? await this.x.all<AlertRow>(all) : await this.x.all<AlertRow>(byLocker, [lockerId]);
    return rows.map(toAlert);
  }
}

interface KeyRow {
  kid: string;
  public_key: string;
  first_seen_at: number;
  retired_at: number | null;
  revoked_at: number | null;
}

const upsertSeen = sql('INSERT INTO signing_keys (kid, public_key, first_seen_at) VALUES (?, ?, ?) ON CONFLICT (kid) DO NOTHING');
const keys = sql('SELECT kid, public_key, first_seen_at, retired_at, revoked_at FROM signing_keys ORDER BY kid');
const retire = sql('UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL');
const revoke = sql('UPDATE signing_keys SET revoked_at = ? WHERE kid = ? AND revoked_at IS NULL');
const unretire = sql('UPDATE signing_keys SET retired_at = NULL WHERE kid = ? AND retired_at IS NOT NULL');
// Self-conflicting but readers pass: two instances choosing their active key at once take
// turns, while tokens keep being checked against the table. SQLite's BEGIN IMMEDIATE
// already admits one writer.
const lockForChange = sqlPer({ sqlite: 'SELECT 1 AS one', postgres: 'LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE' });

export class SqlSigningKeyRepository implements SigningKeyRepository {
  constructor(private readonly x: SqlExecutor) {}

  async upsertSeen(kid: string, publicKey: string, at: number): Promise<void> {
    await this.x.run(upsertSeen, [kid, publicKey, at]);
  }

  async all(): Promise<SigningKeyRecord[]> {
    return (await this.x.all<KeyRow>(keys)).map((r) => {
      const k: SigningKeyRecord = { kid: r.kid, publicKey: r.public_key, firstSeenAt: r.first_seen_at };
      if (r.retired_at !== null) k.retiredAt = r.retired_at;
      if (r.revoked_at !== null) k.revokedAt = r.revoked_at;
      return k;
    });
  }

  async retire(kid: string, at: number): Promise<void> {
    await this.x.run(retire, [at, kid]);
  }

  async revoke(kid: string, at: number): Promise<boolean> {
    return (await this.x.run(revoke, [at, kid])) === 1;
  }

  async unretire(kid: string): Promise<void> {
    await this.x.run(unretire, [kid]);
  }

  async lockForChange(): Promise<void> {
    await this.x.all(lockForChange);
  }
}
