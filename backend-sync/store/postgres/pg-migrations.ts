import type pg from 'pg';
import { BackendError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { capitaliseTrackingNumbers } from './pg-tracking-number-case-step.js';

// The backend schema on PostgreSQL, step by step like the SQLite one (sqlite/migrations.ts).
// Step 1 is the SQLite schema at its step 7, spelled for PostgreSQL: epoch-ms times are
// BIGINT (read back as numbers, see pg-executor.ts), BLOB is BYTEA, the R*Tree is a GiST
// index on the locker's point, the append-only state log is enforced by a trigger. Flags
// stay INTEGER 0/1 so one SQL text serves both engines. Append new steps; never change what
// an applied one leaves behind. Instances starting together serialise on an advisory lock; a
// database migrated by newer code is refused rather than written with old assumptions.
//
// An `online` step only adds or drops indexes on tables that may be large in a running
// estate (audit records, refunds, alerts). A plain CREATE INDEX holds a lock that stops
// every write to its table for the whole build: minutes of failed audit uploads and holds
// during a rolling upgrade. Upgrading an existing database runs such a step's statements
// CONCURRENTLY, outside a transaction (writes go on; an interrupted build leaves an INVALID
// index, which the next start drops and builds again). A database being created runs every
// step in one transaction: its tables are empty, and it never waits on anyone's snapshot.

/** Index statements only: `CREATE [UNIQUE] INDEX name ON …` or `DROP INDEX name`. */
interface OnlineStep {
  online: readonly string[];
}
/** A step that must compute in JavaScript (it runs inside the step's transaction, like SQL). */
interface CodeStep {
  code: (client: pg.ClientBase) => Promise<void>;
}
type Step = string | OnlineStep | CodeStep;

const steps: readonly Step[] = [
  `
  CREATE TABLE lockers (
    rid BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    lng DOUBLE PRECISION NOT NULL,
    address_json TEXT NOT NULL,
    opening_hours_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('operating', 'offline', 'out_of_service')),
    code_pepper BYTEA NOT NULL,
    online INTEGER NOT NULL DEFAULT 0,
    offline_since BIGINT,
    presence_json TEXT,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX lockers_geo ON lockers USING gist (point(lng, lat));

  CREATE TABLE compartments (
    locker_id TEXT NOT NULL REFERENCES lockers (id),
    id TEXT NOT NULL,
    size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
    width_mm INTEGER NOT NULL,
    height_mm INTEGER NOT NULL,
    depth_mm INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('free', 'held', 'reserved', 'occupied', 'out_of_service')),
    reservation_id TEXT,
    hold_expires_at BIGINT,
    PRIMARY KEY (locker_id, id)
  );
  CREATE INDEX compartments_by_state ON compartments (locker_id, state, size, hold_expires_at);

  CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    order_ref TEXT NOT NULL,
    locker_id TEXT NOT NULL,
    size TEXT NOT NULL,
    compartment_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'released', 'expired', 'consumed')),
    expires_at BIGINT NOT NULL,
    order_id TEXT,
    shipment_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'held';
  CREATE INDEX reservations_by_order ON reservations (order_id) WHERE order_id IS NOT NULL;
  -- Double booking refused by the database itself: one live reservation per compartment.
  CREATE UNIQUE INDEX reservations_one_live_per_compartment ON reservations (locker_id, compartment_id)
    WHERE status IN ('held', 'confirmed', 'consumed');

  CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
  );

  CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    customer_json TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    currency TEXT NOT NULL,
    payment_ref TEXT,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    size TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'cancelled')),
    shipment_id TEXT,
    PRIMARY KEY (order_id, line_id)
  );

  CREATE TABLE shipments (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    state TEXT NOT NULL,
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    reservation_id TEXT,
    locker_id TEXT,
    compartment_id TEXT,
    size TEXT,
    pickup_token_id TEXT,
    code_digest TEXT,
    pending_code TEXT,
    pickup_deadline BIGINT,
    return_token_id TEXT,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE INDEX shipments_by_order ON shipments (order_id);
  CREATE INDEX shipments_pickup_deadline ON shipments (pickup_deadline) WHERE state = 'delivered';

  CREATE TABLE state_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at BIGINT NOT NULL
  );
  CREATE INDEX state_log_by_entity ON state_log (entity, entity_id, id);
  CREATE FUNCTION state_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'state_log is append-only'; END $$;
  CREATE TRIGGER state_log_no_change BEFORE UPDATE OR DELETE ON state_log
    FOR EACH ROW EXECUTE FUNCTION state_log_append_only();

  CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    amount_cents BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    reason TEXT NOT NULL,
    provider_ref TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    lease_until BIGINT
  );
  CREATE INDEX refunds_pending ON refunds (created_at) WHERE state = 'pending';

  CREATE TABLE code_sets (
    locker_id TEXT PRIMARY KEY REFERENCES lockers (id),
    version BIGINT NOT NULL,
    digest TEXT NOT NULL,
    acked_version BIGINT NOT NULL DEFAULT 0,
    acked_digest TEXT,
    acked_at BIGINT,
    published_version BIGINT NOT NULL DEFAULT 0,
    keyring_sent_hash TEXT,
    keyring_sent_version BIGINT,
    trusted_kids_json TEXT NOT NULL DEFAULT '[]'
  );
  CREATE TABLE code_entries (
    locker_id TEXT NOT NULL,
    token_id TEXT NOT NULL,
    token TEXT NOT NULL,
    code_digest TEXT,
    parcel_id TEXT NOT NULL,
    compartment_id TEXT NOT NULL,
    size TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('pickup', 'return-dropoff')),
    shipment_id TEXT,
    kid TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    added_version BIGINT NOT NULL,
    revoked_version BIGINT,
    revoke_reason TEXT,
    PRIMARY KEY (locker_id, token_id)
  );
  CREATE UNIQUE INDEX code_entries_live_digest ON code_entries (locker_id, code_digest)
    WHERE revoked_version IS NULL AND code_digest IS NOT NULL;
  CREATE INDEX code_entries_by_version ON code_entries (locker_id, added_version);
  CREATE INDEX code_entries_by_revoked ON code_entries (locker_id, revoked_version) WHERE revoked_version IS NOT NULL;
  CREATE INDEX code_entries_live_expiry ON code_entries (expires_at) WHERE revoked_version IS NULL;
  CREATE INDEX code_entries_live_kid ON code_entries (kid) WHERE revoked_version IS NULL;

  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    locker_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    details_json TEXT NOT NULL,
    at BIGINT NOT NULL
  );
  CREATE INDEX alerts_by_locker ON alerts (locker_id, at);

  CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recipient_json TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    lease_until BIGINT
  );
  CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';

  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    retired_at BIGINT,
    revoked_at BIGINT
  );

  CREATE TABLE commands (
    transaction_id TEXT PRIMARY KEY,
    locker_id TEXT NOT NULL REFERENCES lockers (id),
    command_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'replied', 'expired')),
    reply_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    replied_at BIGINT,
    db_epoch TEXT,
    lease_until BIGINT
  );
  CREATE INDEX commands_due ON commands (next_attempt_at) WHERE state = 'pending';

  CREATE TABLE locker_health (
    locker_id TEXT PRIMARY KEY REFERENCES lockers (id),
    boot_id TEXT NOT NULL,
    sent_at DOUBLE PRECISION NOT NULL,
    received_at BIGINT NOT NULL,
    health_json TEXT NOT NULL,
    episodes_json TEXT NOT NULL
  );

  CREATE TABLE audit_records (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    lane TEXT NOT NULL,
    data_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (locker_id, epoch, seq)
  );
  CREATE TABLE audit_state (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    contiguous_seq BIGINT NOT NULL DEFAULT 0,
    chain_broken_at BIGINT,
    review_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (locker_id, epoch)
  );
  CREATE TABLE audit_conflicts (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    record_json TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (locker_id, epoch, seq, hash)
  );
  CREATE TABLE locker_epochs (
    locker_id TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    seen_at BIGINT NOT NULL
  );
  CREATE TABLE audit_review (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('unknown-type', 'invalid-json', 'invalid-data')),
    detail TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (locker_id, epoch, seq)
  );
  `,
  // 2: shipment tracking (SQLite step 8) (issue 10, docs/backend.md "Tracking"). Raw payloads as received;
  // an inbox of accepted events not yet applied (accept, persist, acknowledge, then apply);
  // dedupe keys (insert-if-absent, purged after the retention window); the append-only
  // history (one row per accepted, non-duplicate event; unique on the normalised hash, so a
  // replay after the retention window still cannot enter twice); the projection per tracking
  // number (the fold of its history, docs/decisions/0030) and the read model GET /track
  // serves with one point lookup; flagged events for review; dead letters; the poll schedule.
  `
  CREATE TABLE tracking_payloads (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL
  );
  CREATE TABLE tracking_inbox (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    payload_id TEXT NOT NULL,
    source TEXT NOT NULL,
    event_json TEXT NOT NULL,
    received_at BIGINT NOT NULL
  );
  -- The applier claims every pending row of the numbers at the head of the inbox.
  CREATE INDEX tracking_inbox_by_number ON tracking_inbox (tracking_number, seq);
  CREATE TABLE tracking_dedupe (
    key TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
  );
  CREATE INDEX tracking_dedupe_age ON tracking_dedupe (created_at);
  CREATE TABLE tracking_history (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    source TEXT NOT NULL,
    payload_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    event_json TEXT NOT NULL
  );
  CREATE INDEX tracking_history_by_number ON tracking_history (tracking_number, event_time);
  CREATE FUNCTION tracking_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'tracking_history is append-only'; END $$;
  CREATE TRIGGER tracking_history_no_change BEFORE UPDATE OR DELETE ON tracking_history
    FOR EACH ROW EXECUTE FUNCTION tracking_history_append_only();
  CREATE TABLE tracking_state (
    tracking_number TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    status TEXT,
    state_json TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE tracking_read (
    tracking_number TEXT PRIMARY KEY,
    doc_json TEXT NOT NULL,
    etag TEXT NOT NULL,
    updated_at BIGINT NOT NULL
  );
  CREATE TABLE tracking_review (
    hash TEXT PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    event_time BIGINT NOT NULL,
    reason TEXT NOT NULL,
    flagged_at BIGINT NOT NULL
  );
  CREATE INDEX tracking_review_by_number ON tracking_review (tracking_number);
  CREATE TABLE tracking_dead_letters (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at BIGINT NOT NULL
  );
  CREATE TABLE tracking_poll_schedule (
    tracking_number TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    last_event_at BIGINT,
    last_webhook_at BIGINT,
    next_poll_at BIGINT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    lease_until BIGINT
  );
  CREATE INDEX tracking_poll_due ON tracking_poll_schedule (next_poll_at);
  CREATE INDEX shipments_by_tracking_number ON shipments (tracking_number);
  `,
  // A customer's order history (GET /customers/{customerId}/orders): who the order belongs
  // to (orders/customer-key.ts: the merchant's customer id, else the lowercased email),
  // filled in for existing orders from their email, and the index its keyset pages walk.
  `
  ALTER TABLE orders ADD COLUMN customer_id TEXT;
  UPDATE orders SET customer_id = lower(CAST(customer_json AS json) ->> 'email') WHERE customer_id IS NULL;
  CREATE INDEX orders_by_customer ON orders (customer_id, created_at, id);
  `,
  // Polling joined to the running backend; learned leg times (SQLite step 10).
  `
  ALTER TABLE tracking_poll_schedule ADD COLUMN status TEXT, ADD COLUMN eta_at BIGINT, ADD COLUMN created_at BIGINT,
    ADD COLUMN mode TEXT NOT NULL DEFAULT 'webhook' CHECK (mode IN ('webhook', 'polling'));
  UPDATE tracking_poll_schedule p SET created_at = coalesce(p.last_webhook_at, p.last_event_at, p.next_poll_at),
    status = (SELECT s.status FROM tracking_state s WHERE s.tracking_number = p.tracking_number);
  ALTER TABLE tracking_poll_schedule ALTER COLUMN created_at SET NOT NULL, ALTER COLUMN next_poll_at DROP NOT NULL;
  DROP INDEX tracking_poll_due;
  CREATE INDEX tracking_poll_due ON tracking_poll_schedule (next_poll_at) WHERE next_poll_at IS NOT NULL;
  CREATE TABLE tracking_leg_stats (
    carrier TEXT NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    mean DOUBLE PRECISION NOT NULL,
    m2 DOUBLE PRECISION NOT NULL CHECK (m2 >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (carrier, status)
  );
  `,
  // Two reads on regular paths that walked a whole table or a whole locker's log (SQLite step 11):
  // - an order's refunds, read for every order view an HTTP call answers with: refunds had no
  //   index on order_id (3.8 ms a read at 100,000 refunds, 0.02 ms with this one);
  // - the unprocessed audit records of a locker's epoch, read at each audit upload: the OR in
  //   its WHERE keeps the primary key to (locker_id, epoch), so it read every record the
  //   locker ever sent (3.8 ms at 50,000 records); the partial index holds only the pending few.
  {
    online: [
      'CREATE INDEX refunds_by_order ON refunds (order_id, created_at, id)',
      'CREATE INDEX audit_unprocessed ON audit_records (locker_id, epoch, seq) WHERE processed = 0',
    ],
  },
  // Idempotency records are kept for a retention window (config idempotency.retentionMs),
  // then purged oldest first by the sweeper (SQLite step 12): without it the table grew by
  // a row for every hold and order, forever.
  { online: ['CREATE INDEX idempotency_by_age ON idempotency (created_at)'] },
  // GET /alerts pages newest first, over the whole fleet or one locker (SQLite step 13): alerts
  // are kept, and the route used to return every alert ever raised in one answer.
  // The new alerts_by_locker is built under a temporary name before the old one goes, so
  // the locker's alert page always has an index; step 8 is the rename (a no-op on a database
  // that ran this step before it was online, when it dropped and created in place).
  {
    online: ['CREATE INDEX alerts_by_time ON alerts (at, id)', 'CREATE INDEX alerts_by_locker_at ON alerts (locker_id, at, id)', 'DROP INDEX alerts_by_locker'],
  },
  `
  ALTER INDEX IF EXISTS alerts_by_locker_at RENAME TO alerts_by_locker;
  `,
  // Abandoned checkout holds (expired or released, never part of an order) are purged after
  // reservations.retentionMs (SQLite step 15): at checkout rates they are most of the rows.
  { online: [`CREATE INDEX reservations_abandoned ON reservations (updated_at) WHERE status IN ('released', 'expired') AND order_id IS NULL`] },
  // Finished notifications (sent or given up) are purged after notifications.retentionMs
  // (SQLite step 16): they hold customers' names, emails and phone numbers.
  { online: [`CREATE INDEX notifications_finished ON notifications (created_at) WHERE state <> 'pending'`] },
  // Raw tracking payloads and dead letters are purged after tracking.rawRetentionMs
  // (SQLite step 17): provider bodies are most of the tracking tables' bytes.
  { online: [`CREATE INDEX tracking_payloads_by_age ON tracking_payloads (received_at)`, `CREATE INDEX tracking_dead_letters_by_age ON tracking_dead_letters (received_at)`] },
  // Revoked code entries are deleted codeSync.revokedRetentionMs after their token expired
  // (SQLite step 18); deltas are then cut only from delta_floor on. A constant default:
  // no table rewrite.
  `
  ALTER TABLE code_sets ADD COLUMN delta_floor BIGINT NOT NULL DEFAULT 0;
  `,
  { online: [`CREATE INDEX code_entries_revoked_expiry ON code_entries (expires_at) WHERE revoked_version IS NOT NULL`] },
  // Each carrier's polling budget, shared by every instance (SQLite step 19).
  `
  CREATE TABLE tracking_carrier_budgets (
    carrier TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    updated_at BIGINT NOT NULL,
    paused_until BIGINT NOT NULL
  );
  `,
  // How many shipments each learned leg cell came from (SQLite step 20): the ETA trusts
  // a cell by its shipments, not its scans. Rows learned before hold 0, since how many
  // parcels their scans came from is unknown: they keep shaping the mean and spread, but a
  // carrier is trusted again only once new shipments are counted (docs/backend.md, ETA).
  `
  ALTER TABLE tracking_leg_stats ADD COLUMN shipments INTEGER NOT NULL DEFAULT 0 CHECK (shipments >= 0);
  `,
  // Row triggers do not see TRUNCATE: without these, one statement emptied the append-only
  // tables the row triggers guard against DELETE.
  `
  CREATE TRIGGER tracking_history_no_truncate BEFORE TRUNCATE ON tracking_history
    FOR EACH STATEMENT EXECUTE FUNCTION tracking_history_append_only();
  CREATE TRIGGER state_log_no_truncate BEFORE TRUNCATE ON state_log
    FOR EACH STATEMENT EXECUTE FUNCTION state_log_append_only();
  `,
  // Captures the provider declined, per order (SQLite step 21): a declined key is spent (the
  // provider replays its decline), so the next attempt captures under a new one. A constant
  // default: no table rewrite.
  `
  ALTER TABLE orders ADD COLUMN declined_captures INTEGER NOT NULL DEFAULT 0 CHECK (declined_captures >= 0);
  `,
  // Refunds that failed are kept for an operator (SQLite step 22): the provider's decline,
  // how often an operator sent it again (each retry pays under a new key, since the provider
  // replays a decline to its key), how many calls in a row lost their answer (the sweeper
  // backs off before asking again under the same key). Constant defaults: no table rewrite.
  `
  ALTER TABLE refunds ADD COLUMN retries INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0),
    ADD COLUMN unanswered INTEGER NOT NULL DEFAULT 0 CHECK (unanswered >= 0),
    ADD COLUMN last_error TEXT;
  `,
  // The failed refunds, oldest first (GET /admin/refunds).
  { online: [`CREATE INDEX refunds_failed ON refunds (created_at, id) WHERE state = 'failed'`] },
  // Returns awaiting a drop-off, for the return-expiry sweep (SQLite step 23): an expired
  // drop-off code frees its compartment.
  { online: [`CREATE INDEX shipments_return_requested ON shipments (locker_id, return_token_id) WHERE state = 'return_requested'`] },
  // A capture sent to the provider whose answer is not recorded yet (SQLite step 24): which
  // attempt (its declines so far, which name its key) and when the sweeper may ask the
  // provider again under that key. NULL defaults: no table rewrite.
  `
  ALTER TABLE orders ADD COLUMN capture_pending INTEGER CHECK (capture_pending >= 0),
    ADD COLUMN capture_due_at BIGINT;
  `,
  // The captures still unanswered, by when they are due (the refund pass resolves them).
  { online: [`CREATE INDEX orders_capture_pending ON orders (capture_due_at, id) WHERE capture_pending IS NOT NULL`] },
  // Every tracking number in capitals (SQLite step 25): earlier releases stored numbers as
  // typed, and GET /track, which reads capitals, missed them. Small-letter rows are renamed
  // and merged into their capital twins; the derived rows of every number touched are
  // dropped and listed in tracking_refold_pending for the start-up refold
  // (tracking/refold-pending.ts). Code, not SQL: history hashes must be computed again.
  { code: capitaliseTrackingNumbers },
  // When a promise with no scan of its own was made (SQLite step 26): orders the revisions
  // of one scan, apart from received_at (when we received it). Nullable: no rewrite.
  `
  ALTER TABLE tracking_inbox ADD COLUMN revised_at BIGINT;
  `,
];

export const PG_SCHEMA_VERSION = steps.length;

// One arbitrary 64-bit key for "the backend is migrating this database".
const MIGRATION_LOCK = 0x6c6f636b6572;
/** How often an instance waiting for another's migration asks for the lock again. */
const LOCK_POLL_MS = 100;

const CREATE_INDEX = /^CREATE (UNIQUE )?INDEX (\w+) ON /;
const DROP_INDEX = /^DROP INDEX (\w+)$/;

/** The schema version of the connection's schema (its search_path); 0 when it holds no backend schema. Reads only. */
export async function pgSchemaVersion(client: pg.ClientBase): Promise<number> {
  const table = (await client.query<{ t: string | null }>(`SELECT to_regclass('schema_version')::text AS t`)).rows[0]?.t ?? null;
  if (table === null) return 0;
  return (await client.query<{ version: number }>('SELECT version FROM schema_version')).rows[0]?.version ?? 0;
}

export interface MigratePgOptions {
  schema?: string | undefined;
  upTo?: number;
  /** Told before and after each index built online (a large table takes minutes). */
  log?: Pick<Logger, 'info'> | undefined;
}

/** Brings the current schema (the connection's search_path) up to date, or refuses a newer one. */
export async function migratePg(client: pg.ClientBase, o: MigratePgOptions = {}): Promise<void> {
  const upTo = Math.min(o.upTo ?? steps.length, steps.length);
  // A session lock taken by polling, never by waiting in a statement: a concurrent index
  // build waits for every transaction with an older snapshot, and an instance blocked in
  // pg_advisory_lock() would hold one while it waits for the builder: a deadlock.
  const waitStarted = Date.now();
  let waitLogged = waitStarted;
  while (!(await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [MIGRATION_LOCK])).rows[0]?.ok) {
    // Another instance is migrating (an index build can take minutes): say so, not hang silently.
    if (Date.now() - waitLogged >= 10_000) {
      waitLogged = Date.now();
      o.log?.info({ waitedMs: waitLogged - waitStarted }, 'db.migration_lock_waiting');
    }
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
  try {
    const current = await inTransaction(client, async () => {
      // Under the lock: concurrent CREATE SCHEMA IF NOT EXISTS can still collide on the catalog.
      if (o.schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${o.schema}`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_version (only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row), version INTEGER NOT NULL)');
      const version = (await client.query<{ version: number }>('SELECT version FROM schema_version')).rows[0]?.version ?? 0;
      if (version > steps.length) {
        throw new BackendError('DB_TOO_NEW', 'the database was migrated by a newer backend; refusing to run on it', { databaseVersion: version, codeVersion: steps.length });
      }
      if (version === 0 && upTo > 0) {
        // A new database: every step at once, online ones as plain statements.
        for (const step of steps.slice(0, upTo)) {
          if (typeof step === 'string') await client.query(step);
          else if ('code' in step) await step.code(client);
          else for (const text of step.online) await client.query(text);
        }
        await setVersion(client, upTo);
        return upTo;
      }
      return version;
    });
    for (let v = current; v < upTo; v++) {
      const step = steps[v] as Step;
      if (typeof step === 'string' || 'code' in step) {
        await inTransaction(client, async () => {
          if (typeof step === 'string') await client.query(step);
          else await step.code(client);
          await setVersion(client, v + 1);
        });
        continue;
      }
      for (const text of step.online) await runOnline(client, text, o.log);
      await setVersion(client, v + 1);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
  }
}

async function inTransaction<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await work();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

function setVersion(client: pg.ClientBase, version: number): Promise<unknown> {
  return client.query('INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT (only_row) DO UPDATE SET version = excluded.version', [version]);
}

/** One index statement of an online step, CONCURRENTLY; safe to run again after an interruption. */
async function runOnline(client: pg.ClientBase, text: string, log: MigratePgOptions['log']): Promise<void> {
  const drop = DROP_INDEX.exec(text);
  if (drop !== null) {
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${drop[1] as string}`);
    return;
  }
  const create = CREATE_INDEX.exec(text);
  if (create === null) throw new Error(`online migration statement is not CREATE INDEX or DROP INDEX: ${text}`);
  const name = create[2] as string;
  // A build that was interrupted (crash, cancel, deploy) left the index INVALID: written to
  // by every insert, used by no read. Dropped here and built again.
  const invalid = await client.query(
    `SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid`,
    [name],
  );
  if (invalid.rowCount !== 0) await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
  const started = Date.now();
  log?.info({ index: name }, 'db.index_build_started');
  await client.query(text.replace(CREATE_INDEX, (_m, unique: string | undefined) => `CREATE ${unique ?? ''}INDEX CONCURRENTLY IF NOT EXISTS ${name} ON `));
  log?.info({ index: name, ms: Date.now() - started }, 'db.index_built');
}
