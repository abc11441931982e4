import { DeviceError } from '../errors.js';
import type { SqliteDatabase } from './open-database.js';

// Every schema change of the device database, in order. Each migration runs in its own
// transaction together with the `user_version` bump, so a crash leaves the file at one
// version or the next. Never edit a migration that has shipped: append a new one.
// `application_id` marks the file as ours, so a valid SQLite file of another program is
// refused instead of being "migrated" into a device store with someone else's tables.

/** "LKR1" — identifies a locker device database in the SQLite header. */
export const DEVICE_DB_APPLICATION_ID = 0x4c4b5231;

interface Migration {
  version: number;
  description: string;
  sql: string;
}

const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'initial device schema',
    sql: `
      -- One row: who this database belongs to and the scalars every component reads.
      CREATE TABLE meta (
        id                 INTEGER PRIMARY KEY CHECK (id = 1),
        locker_id          TEXT    NOT NULL,
        code_set_version   INTEGER NOT NULL CHECK (code_set_version >= 0),
        code_set_digest    TEXT    NOT NULL CHECK (length(code_set_digest) = 64),
        clock_floor        INTEGER NOT NULL CHECK (clock_floor >= 0),
        audit_acked_seq    INTEGER NOT NULL CHECK (audit_acked_seq >= 0),
        -- the last pruned audit record: retained records chain on from it
        audit_anchor_seq   INTEGER NOT NULL CHECK (audit_anchor_seq >= 0),
        audit_anchor_hash  TEXT    NOT NULL CHECK (length(audit_anchor_hash) = 64),
        created_at         INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE code_entries (
        token_id                TEXT    PRIMARY KEY,
        token                   TEXT    NOT NULL,
        code_digest             TEXT,
        parcel_id               TEXT    NOT NULL,
        compartment_id          TEXT    NOT NULL,
        current_compartment_id  TEXT    NOT NULL,
        size                    TEXT    NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
        kind                    TEXT    NOT NULL CHECK (kind IN ('pickup', 'return-dropoff')),
        state                   TEXT    NOT NULL CHECK (state IN ('awaiting-deposit', 'live', 'collected', 'expired', 'retrieved', 'revoked')),
        -- 1 while the entry belongs to the set the backend sent (counted in the digest)
        in_set                  INTEGER NOT NULL CHECK (in_set IN (0, 1)),
        received_at             INTEGER NOT NULL,
        updated_at              INTEGER NOT NULL,
        deposited_at            INTEGER,
        closed_at               INTEGER
      ) STRICT;
      -- A keypad code must designate exactly one parcel among those it can open.
      CREATE UNIQUE INDEX code_entries_open_digest ON code_entries (code_digest)
        WHERE state IN ('awaiting-deposit', 'live') AND code_digest IS NOT NULL;
      CREATE INDEX code_entries_parcel ON code_entries (parcel_id);
      CREATE INDEX code_entries_live_compartment ON code_entries (current_compartment_id) WHERE state = 'live';

      CREATE TABLE revoked_tokens (
        token_id    TEXT    PRIMARY KEY,
        reason      TEXT    NOT NULL,
        revoked_at  INTEGER NOT NULL
      ) STRICT;

      -- Replay set: keyed on the signed token id, never on signature bytes.
      CREATE TABLE used_tokens (
        token_id  TEXT    PRIMARY KEY,
        purpose   TEXT    NOT NULL,
        used_at   INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE keyring (
        kid         TEXT    PRIMARY KEY,
        public_key  TEXT    NOT NULL,
        not_after   INTEGER,
        revoked     INTEGER NOT NULL CHECK (revoked IN (0, 1)),
        trusted_at  INTEGER NOT NULL,
        revoked_at  INTEGER
      ) STRICT;

      CREATE TABLE compartments (
        id                     TEXT    PRIMARY KEY,
        size                   TEXT    NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
        status                 TEXT    NOT NULL CHECK (status IN ('free', 'occupied', 'out-of-service')),
        failure_count          INTEGER NOT NULL CHECK (failure_count >= 0),
        parcel_id              TEXT,
        out_of_service_reason  TEXT,
        updated_at             INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE state_blobs (
        key         TEXT    PRIMARY KEY,
        json        TEXT    NOT NULL,
        updated_at  INTEGER NOT NULL
      ) STRICT;

      -- Write-ahead journal of relay pulses: a row without finished_at after a restart is
      -- an open whose outcome is unknown; it is never pulsed again automatically.
      CREATE TABLE open_journal (
        op_id           TEXT    PRIMARY KEY,
        compartment_id  TEXT    NOT NULL,
        reason          TEXT    NOT NULL,
        token_id        TEXT,
        parcel_id       TEXT,
        transaction_id  TEXT,
        started_at      INTEGER NOT NULL,
        finished_at     INTEGER,
        outcome         TEXT    CHECK (outcome IN ('opened', 'already-open', 'jammed', 'relay-fault', 'unknown'))
      ) STRICT;
      CREATE INDEX open_journal_unfinished ON open_journal (started_at) WHERE finished_at IS NULL;

      CREATE TABLE audit_log (
        seq        INTEGER PRIMARY KEY,
        at         INTEGER NOT NULL,
        type       TEXT    NOT NULL,
        lane       TEXT    NOT NULL CHECK (lane IN ('priority', 'normal')),
        data_json  TEXT    NOT NULL,
        prev_hash  TEXT    NOT NULL,
        hash       TEXT    NOT NULL,
        acked      INTEGER NOT NULL CHECK (acked IN (0, 1)),
        acked_at   INTEGER
      ) STRICT;
      -- The outbox: unacknowledged records per lane, in sequence order.
      CREATE INDEX audit_log_unacked ON audit_log (lane, seq) WHERE acked = 0;

      CREATE TABLE command_log (
        transaction_id  TEXT    PRIMARY KEY,
        kind            TEXT    NOT NULL,
        started_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        completed_at    INTEGER,
        reply_json      TEXT
      ) STRICT;
      CREATE INDEX command_log_unfinished ON command_log (started_at) WHERE completed_at IS NULL;
    `,
  },
  {
    version: 2,
    description: 'clock trust: confirmed flag and highest signed time (docs/decisions/0019)',
    // A floor written by older firmware may come from an unconfirmed wall reading (a board
    // whose RTC read 2038): it starts unconfirmed, so the first signed time may lower it.
    sql: `
      ALTER TABLE meta ADD COLUMN clock_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (clock_confirmed IN (0, 1));
      ALTER TABLE meta ADD COLUMN clock_signed_max INTEGER NOT NULL DEFAULT 0 CHECK (clock_signed_max >= 0);
    `,
  },
  {
    version: 3,
    description: 'database epoch and the persisted count of suppressed rejections',
    sql: `
      -- The identity of this file (docs/decisions/0023). Created with the file (a fresh
      -- database runs every migration; an older one gets its epoch when it is upgraded),
      -- never changed afterwards: a database moved aside and replaced by a new one has a
      -- new epoch, so nothing the backend issued to the old file applies to the new one.
      -- 128 random bits from SQLite's generator (seeded from the OS).
      CREATE TABLE db_identity (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        epoch       TEXT    NOT NULL CHECK (length(epoch) = 32),
        created_at  INTEGER NOT NULL
      ) STRICT;
      INSERT INTO db_identity (id, epoch, created_at)
        VALUES (1, lower(hex(randomblob(16))), CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));

      -- Security rejections beyond the per-minute audit limit: counted here, durably, and
      -- written (then reset) with the next rejection record that is allowed.
      ALTER TABLE meta ADD COLUMN rejections_suppressed INTEGER NOT NULL DEFAULT 0 CHECK (rejections_suppressed >= 0);
    `,
  },
  {
    version: 4,
    description: 'token expiry on the replay and revoked sets, for bounded retention',
    sql: `
      -- exp of the token (epoch ms) when known: the id may go once exp is well behind the
      -- clock floor (history-retention.ts). NULL = unknown: kept for good.
      ALTER TABLE used_tokens ADD COLUMN expires_at INTEGER;
      ALTER TABLE revoked_tokens ADD COLUMN expires_at INTEGER;
      CREATE INDEX used_tokens_expiry ON used_tokens (expires_at) WHERE expires_at IS NOT NULL;
      CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at) WHERE expires_at IS NOT NULL;
      -- Closed entries that left the set: what retention deletes, found without a table scan.
      CREATE INDEX code_entries_prunable ON code_entries (updated_at)
        WHERE in_set = 0 AND state IN ('collected', 'retrieved', 'revoked');
      CREATE INDEX open_journal_finished ON open_journal (finished_at) WHERE finished_at IS NOT NULL;
    `,
  },
  {
    version: 5,
    description: 'code entries staged by a batch applied in slices (docs/decisions/0025)',
    sql: `
      -- The code-set version whose batch wrote this row in a slice before the version switch:
      -- the row is part of the code set only once meta.code_set_version has reached it (see
      -- staged-entries.ts). NULL for rows written inside the switching transaction.
      ALTER TABLE code_entries ADD COLUMN staged_version INTEGER CHECK (staged_version IS NULL OR staged_version > 0);
      -- Finds the rows of an interrupted apply (staged_version above the set's version).
      CREATE INDEX code_entries_staged ON code_entries (staged_version) WHERE staged_version IS NOT NULL;
    `,
  },
  {
    version: 6,
    description: 'covering indexes for the live-code and keypad odds counts',
    sql: `
      -- The odds check counts the codes the keypad can match after every batch: without
      -- this index it scanned the whole table (hundreds of ms at 100k rows, on the event loop).
      CREATE INDEX code_entries_keypad_state ON code_entries (state, staged_version)
        WHERE state IN ('awaiting-deposit', 'live') AND code_digest IS NOT NULL;
      -- The live count (health, device.started): the same scan cost at every start.
      CREATE INDEX code_entries_live_staged ON code_entries (staged_version) WHERE state = 'live';
    `,
  },
];

export const LATEST_SCHEMA_VERSION = migrations.reduce((max, m) => Math.max(max, m.version), 0);

/** Brings the schema to LATEST_SCHEMA_VERSION; returns the version found before. */
export function migrate(db: SqliteDatabase): number {
  const applicationId = db.pragma('application_id', { simple: true });
  const found = Number(db.pragma('user_version', { simple: true }));
  const objects = Number(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM sqlite_schema').get()?.n ?? 0);
  const blank = applicationId === 0 && found === 0 && objects === 0;
  if (!blank && applicationId !== DEVICE_DB_APPLICATION_ID) {
    throw new DeviceError('DB_CORRUPT', 'file is a SQLite database but not a locker device database', { applicationId, userVersion: found });
  }
  if (found > LATEST_SCHEMA_VERSION) {
    throw new DeviceError('DB_MIGRATION', 'device database is newer than this firmware', { found, known: LATEST_SCHEMA_VERSION });
  }
  for (const m of migrations) {
    if (m.version <= found) continue;
    db.transaction(() => {
      db.exec(m.sql);
      if (m.version === 1) db.pragma(`application_id = ${DEVICE_DB_APPLICATION_ID}`);
      db.pragma(`user_version = ${m.version}`);
    })();
  }
  return found;
}
