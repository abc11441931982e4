import { z } from 'zod';
import type { CompartmentSize } from '../../shared/contract.js';
import { BackendError } from '../../shared/errors.js';
import type { CodeEntryRecord, CodeSetRecord } from '../records.js';
import type { CodeSetRepository } from '../store.js';
import { readJson } from './json-column.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// Per-locker code-set versions and their entries (see codes/code-set-service.ts). Every
// version bump reads the set through `ensure`, which locks the row on PostgreSQL: two
// instances changing one locker's set queue on that lock, so each bump starts from the
// other's committed version and no version is ever given two contents.

const EMPTY_DIGEST = '0'.repeat(64);

const TrustedKids = z.array(z.string());

interface CodeSetRow {
  locker_id: string;
  version: number;
  digest: string;
  acked_version: number;
  acked_digest: string | null;
  published_version: number;
  keyring_sent_hash: string | null;
  keyring_sent_version: number | null;
  trusted_kids_json: string;
  delta_floor: number;
}

interface EntryRow {
  locker_id: string;
  token_id: string;
  token: string;
  code_digest: string | null;
  parcel_id: string;
  compartment_id: string;
  size: CompartmentSize;
  kind: 'pickup' | 'return-dropoff';
  shipment_id: string | null;
  kid: string;
  expires_at: number;
  added_version: number;
  revoked_version: number | null;
  revoke_reason: string | null;
}

function setOf(r: CodeSetRow): CodeSetRecord {
  const s: CodeSetRecord = {
    lockerId: r.locker_id,
    version: r.version,
    digest: r.digest,
    ackedVersion: r.acked_version,
    publishedVersion: r.published_version,
    deltaFloor: r.delta_floor,
    trustedKids: readJson(TrustedKids, r.trusted_kids_json, { table: 'code_sets', column: 'trusted_kids_json', key: { lockerId: r.locker_id } }),
  };
  if (r.acked_digest !== null) s.ackedDigest = r.acked_digest;
  if (r.keyring_sent_hash !== null) s.keyringSentHash = r.keyring_sent_hash;
  if (r.keyring_sent_version !== null) s.keyringSentVersion = r.keyring_sent_version;
  return s;
}

function entryOf(r: EntryRow): CodeEntryRecord {
  const e: CodeEntryRecord = {
    lockerId: r.locker_id,
    tokenId: r.token_id,
    token: r.token,
    parcelId: r.parcel_id,
    compartmentId: r.compartment_id,
    size: r.size,
    kind: r.kind,
    kid: r.kid,
    expiresAt: r.expires_at,
    addedVersion: r.added_version,
  };
  if (r.code_digest !== null) e.codeDigest = r.code_digest;
  if (r.shipment_id !== null) e.shipmentId = r.shipment_id;
  if (r.revoked_version !== null) e.revokedVersion = r.revoked_version;
  if (r.revoke_reason !== null) e.revokeReason = r.revoke_reason;
  return e;
}

const SET_COLUMNS = 'locker_id, version, digest, acked_version, acked_digest, published_version, keyring_sent_hash, keyring_sent_version, trusted_kids_json, delta_floor';
const ENTRY_COLUMNS =
  'locker_id, token_id, token, code_digest, parcel_id, compartment_id, size, kind, shipment_id, kid, expires_at, added_version, revoked_version, revoke_reason';

const create = sql('INSERT INTO code_sets (locker_id, version, digest) VALUES (?, 0, ?) ON CONFLICT DO NOTHING');
// SQLite needs no row lock: its write transaction (BEGIN IMMEDIATE) already excludes
// every other writer of the file.
const getLocked = sqlPer({
  sqlite: `SELECT ${SET_COLUMNS} FROM code_sets WHERE locker_id = ?`,
  postgres: `SELECT ${SET_COLUMNS} FROM code_sets WHERE locker_id = ? FOR UPDATE`,
});
const get = sql(`SELECT ${SET_COLUMNS} FROM code_sets WHERE locker_id = ?`);
const all = sql(`SELECT ${SET_COLUMNS} FROM code_sets ORDER BY locker_id`);
const setVersion = sql('UPDATE code_sets SET version = ?, digest = ? WHERE locker_id = ?');
// Publishes and acks only move forward: a late or duplicate one of an older version changes nothing.
const setPublished = sql('UPDATE code_sets SET published_version = @version WHERE locker_id = @lockerId AND published_version < @version');
const setAcked = sql('UPDATE code_sets SET acked_version = @version, acked_digest = @digest, acked_at = @at WHERE locker_id = @lockerId AND acked_version <= @version');
const setKeyringSent = sql('UPDATE code_sets SET keyring_sent_hash = ?, keyring_sent_version = ? WHERE locker_id = ?');
const setTrustedKids = sql('UPDATE code_sets SET trusted_kids_json = ? WHERE locker_id = ?');
// No conflict target: both the primary key and the partial unique index on live code
// digests turn a duplicate into "nothing inserted" rather than an error (an error would
// abort the caller's whole transaction on PostgreSQL).
const insertEntry = sql(
  `INSERT INTO code_entries (locker_id, token_id, token, code_digest, parcel_id, compartment_id, size, kind, shipment_id, kid, expires_at, added_version)
   VALUES (@lockerId, @tokenId, @token, @codeDigest, @parcelId, @compartmentId, @size, @kind, @shipmentId, @kid, @expiresAt, @addedVersion)
   ON CONFLICT DO NOTHING`,
);
const entry = sql(`SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE locker_id = ? AND token_id = ?`);
const live = sql(`SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE locker_id = ? AND revoked_version IS NULL ORDER BY token_id`);
const addedSince = sql(
  `SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE locker_id = ? AND added_version > ? AND revoked_version IS NULL ORDER BY added_version, token_id`,
);
const revokedSince = sql(
  `SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE locker_id = @lockerId AND revoked_version > @version AND added_version <= @version ORDER BY revoked_version, token_id`,
);
const revoke = sql('UPDATE code_entries SET revoked_version = ?, revoke_reason = ? WHERE locker_id = ? AND token_id = ? AND revoked_version IS NULL');
const digestExists = sql('SELECT 1 AS one FROM code_entries WHERE locker_id = ? AND code_digest = ? AND revoked_version IS NULL');
// No row locks here: the sweeper that reads these revokes each through `ensure`, which
// locks the code set first; locking entries before the set would invert that order.
const expired = sql(`SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE revoked_version IS NULL AND expires_at <= ? ORDER BY expires_at, locker_id, token_id LIMIT ?`);
const byKid = sql(`SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE revoked_version IS NULL AND kid = ? ORDER BY locker_id, token_id`);
const lockersByKid = sql(`SELECT DISTINCT locker_id FROM code_entries WHERE revoked_version IS NULL AND kid = ? ORDER BY locker_id`);
// One pass over code_sets (a row per locker) in key order; run once per keyring change.
const missingKeyring = sqlPer({
  sqlite: `SELECT locker_id FROM code_sets
            WHERE locker_id > @after AND keyring_sent_hash IS NOT NULL AND keyring_sent_hash <> @hash AND published_version >= version
              AND NOT EXISTS (SELECT 1 FROM json_each(trusted_kids_json) WHERE value = @kid)
            ORDER BY locker_id LIMIT @limit`,
  postgres: `SELECT locker_id FROM code_sets
            WHERE locker_id > @after AND keyring_sent_hash IS NOT NULL AND keyring_sent_hash <> @hash AND published_version >= version
              AND NOT EXISTS (SELECT 1 FROM json_array_elements_text(trusted_kids_json::json) AS k (kid) WHERE k.kid = @kid)
            ORDER BY locker_id LIMIT @limit`,
});
// Revoked entries whose token expired before the cutoff (partial index
// code_entries_revoked_expiry): the lockers first, then one locker's, under its set's lock.
const lockersWithStaleRevoked = sql(`SELECT DISTINCT locker_id FROM code_entries WHERE revoked_version IS NOT NULL AND expires_at < ? ORDER BY locker_id LIMIT ?`);
const purgeRevoked = sql(`DELETE FROM code_entries WHERE locker_id = ? AND revoked_version IS NOT NULL AND expires_at < ? RETURNING revoked_version`);
// Only ever raised: deltas from below it can no longer be cut.
const raiseDeltaFloor = sql(`UPDATE code_sets SET delta_floor = ? WHERE locker_id = ? AND delta_floor < ?`);
// A publish that failed after its change committed leaves the set ahead of what was sent.
const unpublished = sql('SELECT locker_id FROM code_sets WHERE version > published_version ORDER BY locker_id LIMIT ?');
const byKidAt = sql(`SELECT ${ENTRY_COLUMNS} FROM code_entries WHERE locker_id = ? AND revoked_version IS NULL AND kid = ? ORDER BY token_id`);

export class SqlCodeSetRepository implements CodeSetRepository {
  constructor(private readonly x: SqlExecutor) {}

  async ensure(lockerId: string): Promise<CodeSetRecord> {
    // The set exists for almost every call: try the locked read first, create only when absent.
    let row = await this.x.one<CodeSetRow>(getLocked, [lockerId]);
    if (row === undefined) {
      await this.x.run(create, [lockerId, EMPTY_DIGEST]);
      row = await this.x.one<CodeSetRow>(getLocked, [lockerId]);
    }
    if (row === undefined) throw new BackendError('INTERNAL', 'the code set vanished right after it was created', { lockerId });
    return setOf(row);
  }

  async get(lockerId: string): Promise<CodeSetRecord | undefined> {
    const r = await this.x.one<CodeSetRow>(get, [lockerId]);
    return r === undefined ? undefined : setOf(r);
  }

  async all(): Promise<CodeSetRecord[]> {
    return (await this.x.all<CodeSetRow>(all)).map(setOf);
  }

  async setVersion(lockerId: string, version: number, digest: string): Promise<void> {
    await this.x.run(setVersion, [version, digest, lockerId]);
  }

  async setPublished(lockerId: string, version: number): Promise<void> {
    await this.x.run(setPublished, { lockerId, version });
  }

  async setAcked(lockerId: string, version: number, digest: string, at: number): Promise<void> {
    await this.x.run(setAcked, { lockerId, version, digest, at });
  }

  async setKeyringSent(lockerId: string, hash: string, version: number): Promise<void> {
    await this.x.run(setKeyringSent, [hash, version, lockerId]);
  }

  async setTrustedKids(lockerId: string, kids: readonly string[]): Promise<void> {
    await this.x.run(setTrustedKids, [JSON.stringify([...kids].sort()), lockerId]);
  }

  async insertEntry(e: CodeEntryRecord): Promise<boolean> {
    const changed = await this.x.run(insertEntry, {
      lockerId: e.lockerId,
      tokenId: e.tokenId,
      token: e.token,
      codeDigest: e.codeDigest ?? null,
      parcelId: e.parcelId,
      compartmentId: e.compartmentId,
      size: e.size,
      kind: e.kind,
      shipmentId: e.shipmentId ?? null,
      kid: e.kid,
      expiresAt: e.expiresAt,
      addedVersion: e.addedVersion,
    });
    return changed === 1;
  }

  async entry(lockerId: string, tokenId: string): Promise<CodeEntryRecord | undefined> {
    const r = await this.x.one<EntryRow>(entry, [lockerId, tokenId]);
    return r === undefined ? undefined : entryOf(r);
  }

  async lockersWithStaleRevoked(expiredBefore: number, limit: number): Promise<string[]> {
    return (await this.x.all<{ locker_id: string }>(lockersWithStaleRevoked, [expiredBefore, limit])).map((r) => r.locker_id);
  }

  async purgeRevoked(lockerId: string, expiredBefore: number): Promise<{ deleted: number; deltaFloor: number }> {
    const rows = await this.x.all<{ revoked_version: number | string }>(purgeRevoked, [lockerId, expiredBefore]);
    let floor = 0;
    for (const r of rows) floor = Math.max(floor, Number(r.revoked_version));
    if (floor > 0) await this.x.run(raiseDeltaFloor, [floor, lockerId, floor]);
    return { deleted: rows.length, deltaFloor: floor };
  }

  async liveEntries(lockerId: string): Promise<CodeEntryRecord[]> {
    return (await this.x.all<EntryRow>(live, [lockerId])).map(entryOf);
  }

  async changesSince(lockerId: string, version: number): Promise<{ upserts: CodeEntryRecord[]; revocations: CodeEntryRecord[] }> {
    const upserts = (await this.x.all<EntryRow>(addedSince, [lockerId, version])).map(entryOf);
    const revocations = (await this.x.all<EntryRow>(revokedSince, { lockerId, version })).map(entryOf);
    return { upserts, revocations };
  }

  async revoke(lockerId: string, tokenId: string, version: number, reason: string): Promise<boolean> {
    return (await this.x.run(revoke, [version, reason, lockerId, tokenId])) === 1;
  }

  async liveDigestExists(lockerId: string, codeDigest: string): Promise<boolean> {
    return (await this.x.one(digestExists, [lockerId, codeDigest])) !== undefined;
  }

  async liveExpiredBefore(now: number, limit: number): Promise<CodeEntryRecord[]> {
    return (await this.x.all<EntryRow>(expired, [now, limit])).map(entryOf);
  }

  async lockersWithLiveKid(kid: string): Promise<string[]> {
    return (await this.x.all<{ locker_id: string }>(lockersByKid, [kid])).map((r) => r.locker_id);
  }

  async lockersMissingKeyring(keyringHash: string, activeKid: string, afterLockerId: string, limit: number): Promise<string[]> {
    return (await this.x.all<{ locker_id: string }>(missingKeyring, { hash: keyringHash, kid: activeKid, after: afterLockerId, limit })).map((r) => r.locker_id);
  }

  async lockersWithUnpublished(limit: number): Promise<string[]> {
    return (await this.x.all<{ locker_id: string }>(unpublished, [limit])).map((r) => r.locker_id);
  }

  async liveByKid(kid: string, lockerId?: string): Promise<CodeEntryRecord[]> {
    const rows = lockerId === undefined ? await this.x.all<EntryRow>(byKid, [kid]) : await this.x.all<EntryRow>(byKidAt, [lockerId, kid]);
    return rows.map(entryOf);
  }
}
