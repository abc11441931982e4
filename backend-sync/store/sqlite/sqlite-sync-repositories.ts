import type { CompartmentSize } from '../../shared/contract.js';
import type { AlertRecord, AuditRecordRow, CodeEntryRecord, CodeSetRecord, Customer, NotificationRecord, SigningKeyRecord } from '../records.js';
import type { AlertRepository, AuditRepository, CodeSetRepository, NotificationRepository, SigningKeyRepository } from '../store.js';
import type { SqliteDatabase } from './open-sqlite.js';

// Tables of the locker-facing side: code sets, audit ingest, alerts, the notification
// outbox and signing keys.

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

interface AuditRow {
  locker_id: string;
  seq: number;
  at: number;
  type: string;
  lane: string;
  data_json: string;
  prev_hash: string;
  hash: string;
}

const auditOf = (r: AuditRow): AuditRecordRow => ({
  lockerId: r.locker_id,
  seq: r.seq,
  at: r.at,
  type: r.type,
  lane: r.lane,
  dataJson: r.data_json,
  prevHash: r.prev_hash,
  hash: r.hash,
});

export class SqliteAuditRepository implements AuditRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO audit_records (locker_id, seq, at, type, lane, data_json, prev_hash, hash, received_at)
         VALUES (@lockerId, @seq, @at, @type, @lane, @dataJson, @prevHash, @hash, @receivedAt) ON CONFLICT DO NOTHING`,
      ),
      get: db.prepare<[string, number], AuditRow>('SELECT * FROM audit_records WHERE locker_id = ? AND seq = ?'),
      ensureState: db.prepare<[string]>('INSERT INTO audit_state (locker_id) VALUES (?) ON CONFLICT DO NOTHING'),
      state: db.prepare<[string], { contiguous_seq: number; chain_broken_at: number | null }>('SELECT contiguous_seq, chain_broken_at FROM audit_state WHERE locker_id = ?'),
      setContiguous: db.prepare<[number, string, number]>('UPDATE audit_state SET contiguous_seq = ? WHERE locker_id = ? AND contiguous_seq < ?'),
      flag: db.prepare<[number, string, number]>(
        'UPDATE audit_state SET chain_broken_at = ? WHERE locker_id = ? AND (chain_broken_at IS NULL OR chain_broken_at > ?)',
      ),
      unprocessed: db.prepare<{ lockerId: string; upTo: number; priority: number }, AuditRow>(
        `SELECT * FROM audit_records WHERE locker_id = @lockerId AND processed = 0 AND (seq <= @upTo OR (@priority = 1 AND lane = 'priority')) ORDER BY seq`,
      ),
      markProcessed: db.prepare<[string, number]>('UPDATE audit_records SET processed = 1 WHERE locker_id = ? AND seq = ? AND processed = 0'),
    };
  }
  insert(r: AuditRecordRow, receivedAt: number): boolean {
    return this.s.insert.run({ ...r, receivedAt }).changes === 1;
  }
  get(lockerId: string, seq: number): AuditRecordRow | undefined {
    const r = this.s.get.get(lockerId, seq);
    return r === undefined ? undefined : auditOf(r);
  }
  contiguousSeq(lockerId: string): number {
    return this.s.state.get(lockerId)?.contiguous_seq ?? 0;
  }
  setContiguousSeq(lockerId: string, seq: number): void {
    this.s.ensureState.run(lockerId);
    this.s.setContiguous.run(seq, lockerId, seq);
  }
  chainBrokenAt(lockerId: string): number | undefined {
    return this.s.state.get(lockerId)?.chain_broken_at ?? undefined;
  }
  flagChainBreak(lockerId: string, seq: number): void {
    this.s.ensureState.run(lockerId);
    this.s.flag.run(seq, lockerId, seq);
  }
  unprocessed(lockerId: string, upToSeq: number, priorityToo: boolean): AuditRecordRow[] {
    return this.s.unprocessed.all({ lockerId, upTo: upToSeq, priority: priorityToo ? 1 : 0 }).map(auditOf);
  }
  markProcessed(lockerId: string, seq: number): boolean {
    return this.s.markProcessed.run(lockerId, seq).changes === 1;
  }
}

interface NotificationRow {
  id: string;
  dedupe_key: string;
  kind: string;
  recipient_json: string;
  payload_json: string;
  state: NotificationRecord['state'];
  attempts: number;
  next_attempt_at: number;
  created_at: number;
}

const notificationOf = (r: NotificationRow): NotificationRecord => ({
  id: r.id,
  dedupeKey: r.dedupe_key,
  kind: r.kind,
  recipient: JSON.parse(r.recipient_json) as Customer,
  payload: JSON.parse(r.payload_json) as Record<string, unknown>,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  createdAt: r.created_at,
});

export class SqliteNotificationRepository implements NotificationRepository {
  private readonly s;
  constructor(db: SqliteDatabase) {
    this.s = {
      enqueue: db.prepare(
        `INSERT INTO notifications (id, dedupe_key, kind, recipient_json, payload_json, state, attempts, next_attempt_at, created_at)
         VALUES (@id, @dedupeKey, @kind, @recipient, @payload, 'pending', 0, @next, @createdAt) ON CONFLICT (dedupe_key) DO NOTHING`,
      ),
      due: db.prepare<[number, number], NotificationRow>(`SELECT * FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?`),
      sent: db.prepare<[number, string, string]>(`UPDATE notifications SET state = 'sent', sent_at = ?, payload_json = ? WHERE id = ? AND state = 'pending'`),
      failed: db.prepare<{ id: string; attempts: number; next: number; error: string; state: string }>(
        `UPDATE notifications SET attempts = @attempts, next_attempt_at = @next, last_error = @error, state = @state WHERE id = @id AND state = 'pending'`,
      ),
      all: db.prepare<[], NotificationRow>('SELECT * FROM notifications ORDER BY created_at, id'),
      byKind: db.prepare<[string], NotificationRow>('SELECT * FROM notifications WHERE kind = ? ORDER BY created_at, id'),
    };
  }
  enqueue(n: NotificationRecord): boolean {
    return (
      this.s.enqueue.run({ id: n.id, dedupeKey: n.dedupeKey, kind: n.kind, recipient: JSON.stringify(n.recipient), payload: JSON.stringify(n.payload), next: n.nextAttemptAt, createdAt: n.createdAt })
        .changes === 1
    );
  }
  due(now: number, limit: number): NotificationRecord[] {
    return this.s.due.all(now, limit).map(notificationOf);
  }
  markSent(id: string, at: number, redactedPayload: Record<string, unknown>): void {
    this.s.sent.run(at, JSON.stringify(redactedPayload), id);
  }
  markFailedAttempt(id: string, attempts: number, nextAttemptAt: number, error: string, giveUp: boolean): void {
    this.s.failed.run({ id, attempts, next: nextAttemptAt, error, state: giveUp ? 'failed' : 'pending' });
  }
  list(filter?: { kind?: string }): NotificationRecord[] {
    return (filter?.kind !== undefined ? this.s.byKind.all(filter.kind) : this.s.all.all()).map(notificationOf);
  }
}

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
