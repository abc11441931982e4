import type { CompartmentSize } from '../../shared/contract.js';
import type { CodeEntryRecord, CodeSetRecord } from '../records.js';
import type { CodeSetRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Per-locker code-set versions and their entries (see codes/code-set-service.ts).

const EMPTY_DIGEST = '0'.repeat(64);

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

const setOf = (r: CodeSetRow): CodeSetRecord => {
  const s: CodeSetRecord = {
    lockerId: r.locker_id,
    version: r.version,
    digest: r.digest,
    ackedVersion: r.acked_version,
    publishedVersion: r.published_version,
    trustedKids: JSON.parse(r.trusted_kids_json) as string[],
  };
  if (r.acked_digest !== null) s.ackedDigest = r.acked_digest;
  if (r.keyring_sent_hash !== null) s.keyringSentHash = r.keyring_sent_hash;
  if (r.keyring_sent_version !== null) s.keyringSentVersion = r.keyring_sent_version;
  return s;
};

const entryOf = (r: EntryRow): CodeEntryRecord => {
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
};

export class SqliteCodeSetRepository implements CodeSetRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      ensure: db.prepare<[string, string]>('INSERT INTO code_sets (locker_id, version, digest) VALUES (?, 0, ?) ON CONFLICT DO NOTHING'),
      get: db.prepare<[string], CodeSetRow>('SELECT * FROM code_sets WHERE locker_id = ?'),
      all: db.prepare<[], CodeSetRow>('SELECT * FROM code_sets ORDER BY locker_id'),
      setVersion: db.prepare<[number, string, string]>('UPDATE code_sets SET version = ?, digest = ? WHERE locker_id = ?'),
      setPublished: db.prepare<[number, string, number]>('UPDATE code_sets SET published_version = ? WHERE locker_id = ? AND published_version < ?'),
      // Acks only move forward: a late duplicate ack of an older version changes nothing.
      setAcked: db.prepare<[number, string, number, string, number]>(
        'UPDATE code_sets SET acked_version = ?, acked_digest = ?, acked_at = ? WHERE locker_id = ? AND acked_version <= ?',
      ),
      keyringSent: db.prepare<[string, number, string]>('UPDATE code_sets SET keyring_sent_hash = ?, keyring_sent_version = ? WHERE locker_id = ?'),
      trustedKids: db.prepare<[string, string]>('UPDATE code_sets SET trusted_kids_json = ? WHERE locker_id = ?'),
      insertEntry: db.prepare(
        `INSERT INTO code_entries (locker_id, token_id, token, code_digest, parcel_id, compartment_id, size, kind, shipment_id, kid, expires_at, added_version)
         VALUES (@lockerId, @tokenId, @token, @codeDigest, @parcelId, @compartmentId, @size, @kind, @shipmentId, @kid, @expiresAt, @addedVersion)
         ON CONFLICT DO NOTHING`,
      ),
      entry: db.prepare<[string, string], EntryRow>('SELECT * FROM code_entries WHERE locker_id = ? AND token_id = ?'),
      live: db.prepare<[string], EntryRow>('SELECT * FROM code_entries WHERE locker_id = ? AND revoked_version IS NULL ORDER BY token_id'),
      added: db.prepare<[string, number], EntryRow>(
        'SELECT * FROM code_entries WHERE locker_id = ? AND added_version > ? AND revoked_version IS NULL ORDER BY added_version, token_id',
      ),
      revokedSince: db.prepare<[string, number, number], EntryRow>(
        'SELECT * FROM code_entries WHERE locker_id = ? AND revoked_version > ? AND added_version <= ? ORDER BY revoked_version, token_id',
      ),
      revoke: db.prepare<[number, string, string, string]>(
        'UPDATE code_entries SET revoked_version = ?, revoke_reason = ? WHERE locker_id = ? AND token_id = ? AND revoked_version IS NULL',
      ),
      digestExists: db.prepare<[string, string], { one: number }>(
        'SELECT 1 AS one FROM code_entries WHERE locker_id = ? AND code_digest = ? AND revoked_version IS NULL',
      ),
      expired: db.prepare<[number, number], EntryRow>('SELECT * FROM code_entries WHERE revoked_version IS NULL AND expires_at <= ? LIMIT ?'),
      byKid: db.prepare<[string], EntryRow>('SELECT * FROM code_entries WHERE revoked_version IS NULL AND kid = ?'),
    };
  }
  ensure(lockerId: string): CodeSetRecord {
    this.s.ensure.run(lockerId, EMPTY_DIGEST);
    const row = this.s.get.get(lockerId);
    if (row === undefined) throw new Error('code set vanished');
    return setOf(row);
  }
  get(lockerId: string): CodeSetRecord | undefined {
    const r = this.s.get.get(lockerId);
    return r === undefined ? undefined : setOf(r);
  }
  all(): CodeSetRecord[] {
    return this.s.all.all().map(setOf);
  }
  setVersion(lockerId: string, version: number, digest: string): void {
    this.s.setVersion.run(version, digest, lockerId);
  }
  setPublished(lockerId: string, version: number): void {
    this.s.setPublished.run(version, lockerId, version);
  }
  setAcked(lockerId: string, version: number, digest: string, at: number): void {
    this.s.setAcked.run(version, digest, at, lockerId, version);
  }
  setKeyringSent(lockerId: string, hash: string, version: number): void {
    this.s.keyringSent.run(hash, version, lockerId);
  }
  setTrustedKids(lockerId: string, kids: readonly string[]): void {
    this.s.trustedKids.run(JSON.stringify([...kids].sort()), lockerId);
  }
  insertEntry(e: CodeEntryRecord): boolean {
    try {
      return (
        this.s.insertEntry.run({
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
        }).changes === 1
      );
    } catch (err) {
      // The partial unique index on live code digests: the code is already in use there.
      if (err instanceof Error && 'code' in err && err.code === 'SQLITE_CONSTRAINT_UNIQUE') return false;
      throw err;
    }
  }
  entry(lockerId: string, tokenId: string): CodeEntryRecord | undefined {
    const r = this.s.entry.get(lockerId, tokenId);
    return r === undefined ? undefined : entryOf(r);
  }
  liveEntries(lockerId: string): CodeEntryRecord[] {
    return this.s.live.all(lockerId).map(entryOf);
  }
  changesSince(lockerId: string, version: number): { upserts: CodeEntryRecord[]; revocations: CodeEntryRecord[] } {
    return {
      upserts: this.s.added.all(lockerId, version).map(entryOf),
      revocations: this.s.revokedSince.all(lockerId, version, version).map(entryOf),
    };
  }
  revoke(lockerId: string, tokenId: string, version: number, reason: string): boolean {
    return this.s.revoke.run(version, reason, lockerId, tokenId).changes === 1;
  }
  liveDigestExists(lockerId: string, codeDigest: string): boolean {
    return this.s.digestExists.get(lockerId, codeDigest) !== undefined;
  }
  liveExpiredBefore(now: number, limit: number): CodeEntryRecord[] {
    return this.s.expired.all(now, limit).map(entryOf);
  }
  liveByKid(kid: string): CodeEntryRecord[] {
    return this.s.byKid.all(kid).map(entryOf);
  }
}
