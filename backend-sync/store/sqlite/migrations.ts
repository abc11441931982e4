import type Database from 'better-sqlite3';
import { BackendError } from '../../shared/errors.js';
import { capitaliseTrackingNumbers } from './tracking-number-case-step.js';

// Every schema change of the backend database, in order, in one place. A migration runs
// once, inside one transaction with the user_version bump, so a crash leaves the previous
// schema intact. Append new steps; never edit an applied one.
//
// Times are epoch ms (INTEGER). JSON columns hold values validated by zod before writing.

/** A step is SQL, or code for one that must compute in JavaScript (it still runs inside the step's transaction). */
type Step = string | ((db: Database.Database) => void);

const steps: readonly Step[] = [
  `
  CREATE TABLE lockers (
    rid INTEGER PRIMARY KEY,              -- rowid, shared with the R*Tree
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    lat REAL NOT NULL,
    lng REAL NOT NULL,
    address_json TEXT NOT NULL,
    opening_hours_json TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('operating', 'offline', 'out_of_service')),
    code_pepper BLOB NOT NULL,
    online INTEGER NOT NULL DEFAULT 0,
    offline_since INTEGER,                -- NULL: online or never seen (see docs/backend.md)
    presence_json TEXT,
    created_at INTEGER NOT NULL
  );
  CREATE VIRTUAL TABLE locker_geo USING rtree (rid, min_lat, max_lat, min_lng, max_lng);

  CREATE TABLE compartments (
    locker_id TEXT NOT NULL REFERENCES lockers (id),
    id TEXT NOT NULL,
    size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
    width_mm INTEGER NOT NULL,
    height_mm INTEGER NOT NULL,
    depth_mm INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('free', 'held', 'reserved', 'occupied', 'out_of_service')),
    reservation_id TEXT,
    hold_expires_at INTEGER,
    PRIMARY KEY (locker_id, id)
  );
  -- Covers the search's availability count (no table lookups): state, size, hold expiry.
  CREATE INDEX compartments_by_state ON compartments (locker_id, state, size, hold_expires_at);

  CREATE TABLE reservations (
    id TEXT PRIMARY KEY,
    order_ref TEXT NOT NULL,
    locker_id TEXT NOT NULL,
    size TEXT NOT NULL,
    compartment_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'released', 'expired', 'consumed')),
    expires_at INTEGER NOT NULL,
    order_id TEXT,
    shipment_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'held';
  CREATE INDEX reservations_by_order_ref ON reservations (order_ref);

  CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_json TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
  );

  CREATE TABLE orders (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    customer_json TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    payment_ref TEXT,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders (id),
    line_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price_cents INTEGER NOT NULL,
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
    pending_code TEXT,                    -- cleared the moment the code goes to the outbox
    pickup_deadline INTEGER,
    return_token_id TEXT,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX shipments_by_order ON shipments (order_id);
  CREATE INDEX shipments_pickup_deadline ON shipments (pickup_deadline) WHERE state = 'delivered';

  CREATE TABLE state_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    at INTEGER NOT NULL
  );
  CREATE INDEX state_log_by_entity ON state_log (entity, entity_id, id);
  -- Append-only: the log is evidence.
  CREATE TRIGGER state_log_no_update BEFORE UPDATE ON state_log BEGIN SELECT RAISE(ABORT, 'state_log is append-only'); END;
  CREATE TRIGGER state_log_no_delete BEFORE DELETE ON state_log BEGIN SELECT RAISE(ABORT, 'state_log is append-only'); END;

  CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (id),
    amount_cents INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
    reason TEXT NOT NULL,
    provider_ref TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE code_sets (
    locker_id TEXT PRIMARY KEY REFERENCES lockers (id),
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    acked_version INTEGER NOT NULL DEFAULT 0,
    acked_digest TEXT,
    acked_at INTEGER,
    published_version INTEGER NOT NULL DEFAULT 0,
    keyring_sent_hash TEXT,               -- keyring last put into a batch for this locker
    keyring_sent_version INTEGER,         -- ...and the batch version that carried it
    trusted_kids_json TEXT NOT NULL DEFAULT '[]'  -- kids the locker is known to trust (acked)
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
    expires_at INTEGER NOT NULL,
    added_version INTEGER NOT NULL,
    revoked_version INTEGER,
    revoke_reason TEXT,
    PRIMARY KEY (locker_id, token_id)
  );
  -- A keypad code is unique among a locker's codes still in its set.
  CREATE UNIQUE INDEX code_entries_live_digest ON code_entries (locker_id, code_digest)
    WHERE revoked_version IS NULL AND code_digest IS NOT NULL;
  CREATE INDEX code_entries_by_version ON code_entries (locker_id, added_version);
  CREATE INDEX code_entries_by_revoked ON code_entries (locker_id, revoked_version) WHERE revoked_version IS NOT NULL;

  CREATE TABLE audit_records (
    locker_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    lane TEXT NOT NULL,
    data_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (locker_id, seq)
  );
  CREATE TABLE audit_state (
    locker_id TEXT PRIMARY KEY,
    contiguous_seq INTEGER NOT NULL DEFAULT 0,
    chain_broken_at INTEGER
  );

  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    locker_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    details_json TEXT NOT NULL,
    at INTEGER NOT NULL
  );

  CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    dedupe_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recipient_json TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
  );
  CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';

  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    retired_at INTEGER,
    revoked_at INTEGER
  );
  `,
  // 2: commands to lockers (support remote open, resync, health), retried until replied.
  `
  CREATE TABLE commands (
    transaction_id TEXT PRIMARY KEY,
    locker_id TEXT NOT NULL REFERENCES lockers (id),
    command_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'replied', 'expired')),
    reply_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    replied_at INTEGER
  );
  CREATE INDEX commands_due ON commands (next_attempt_at) WHERE state = 'pending';
  `,
  // 3: reservations are looked up by order (cancellation), never by order_ref; a partial
  // index skips checkout holds, which have no order yet (one index write less per hold).
  `
  DROP INDEX reservations_by_order_ref;
  CREATE INDEX reservations_by_order ON reservations (order_id) WHERE order_id IS NOT NULL;
  `,
  // 4: the latest health report per locker, with the fault episodes open at that report
  // (so an alert is raised once per episode, across restarts).
  `
  CREATE TABLE locker_health (
    locker_id TEXT PRIMARY KEY REFERENCES lockers (id),
    boot_id TEXT NOT NULL,
    sent_at REAL NOT NULL,                -- the locker's clock: orders reports, never trusted as time
    received_at INTEGER NOT NULL,
    health_json TEXT NOT NULL,
    episodes_json TEXT NOT NULL
  );
  `,
  // 5: audit chains per device database epoch (docs/decisions/0023). A locker whose
  // database was replaced numbers its records from 1 again: records are keyed by
  // (locker, epoch, seq) and each epoch has its own watermark and chain state. Rows from
  // before epochs keep the placeholder epoch 'pre-epoch'. locker_epochs: the epoch each
  // locker last announced (presence, upload) — the one commands are signed for. Commands
  // record the epoch they were issued to.
  `
  ALTER TABLE audit_records RENAME TO audit_records_v4;
  CREATE TABLE audit_records (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    lane TEXT NOT NULL,
    data_json TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (locker_id, epoch, seq)
  );
  INSERT INTO audit_records (locker_id, epoch, seq, at, type, lane, data_json, prev_hash, hash, received_at, processed)
    SELECT locker_id, 'pre-epoch', seq, at, type, lane, data_json, prev_hash, hash, received_at, processed FROM audit_records_v4;
  DROP TABLE audit_records_v4;

  ALTER TABLE audit_state RENAME TO audit_state_v4;
  CREATE TABLE audit_state (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    contiguous_seq INTEGER NOT NULL DEFAULT 0,
    chain_broken_at INTEGER,
    PRIMARY KEY (locker_id, epoch)
  );
  INSERT INTO audit_state (locker_id, epoch, contiguous_seq, chain_broken_at)
    SELECT locker_id, 'pre-epoch', contiguous_seq, chain_broken_at FROM audit_state_v4;
  DROP TABLE audit_state_v4;

  -- A record that arrived for an occupied (locker, epoch, seq) with another hash: kept as
  -- evidence, never acknowledged.
  CREATE TABLE audit_conflicts (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    record_json TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (locker_id, epoch, seq, hash)
  );

  CREATE TABLE locker_epochs (
    locker_id TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    seen_at INTEGER NOT NULL
  );

  ALTER TABLE commands ADD COLUMN db_epoch TEXT;
  `,
  // 6: uploaded audit records whose type the contract does not know or whose data its
  // schema refuses (sync/contract/audit-events). The record itself stays in audit_records
  // (the chain verifies over it and the ack covers it); this table is the queue for a human
  // to look at, and review_count the per-locker counter (never decremented).
  `
  CREATE TABLE audit_review (
    locker_id TEXT NOT NULL,
    epoch TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('unknown-type', 'invalid-json', 'invalid-data')),
    detail TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (locker_id, epoch, seq)
  );
  ALTER TABLE audit_state ADD COLUMN review_count INTEGER NOT NULL DEFAULT 0;
  `,
  // 7: several backend instances (docs/decisions/0029). Double booking is refused by the
  // database itself: one live reservation per compartment. Outbox, refund and command rows
  // are claimed with a lease before their side effect runs, so two instances never send
  // the same notification or refund twice while both are alive. Indexes for the sweepers'
  // scans of live code entries by expiry and by signing key.
  `
  CREATE UNIQUE INDEX reservations_one_live_per_compartment ON reservations (locker_id, compartment_id)
    WHERE status IN ('held', 'confirmed', 'consumed');
  ALTER TABLE notifications ADD COLUMN lease_until INTEGER;
  ALTER TABLE refunds ADD COLUMN lease_until INTEGER;
  CREATE INDEX refunds_pending ON refunds (created_at) WHERE state = 'pending';
  ALTER TABLE commands ADD COLUMN lease_until INTEGER;
  CREATE INDEX code_entries_live_expiry ON code_entries (expires_at) WHERE revoked_version IS NULL;
  CREATE INDEX code_entries_live_kid ON code_entries (kid) WHERE revoked_version IS NULL;
  CREATE INDEX alerts_by_locker ON alerts (locker_id, at);
  `,
  // 8: shipment tracking (issue 10, docs/backend.md "Tracking"). Raw payloads as received;
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
    received_at INTEGER NOT NULL
  );
  CREATE TABLE tracking_inbox (
    seq INTEGER PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    payload_id TEXT NOT NULL,
    source TEXT NOT NULL,
    event_json TEXT NOT NULL,
    received_at INTEGER NOT NULL
  );
  -- The applier claims every pending row of the numbers at the head of the inbox.
  CREATE INDEX tracking_inbox_by_number ON tracking_inbox (tracking_number, seq);
  CREATE TABLE tracking_dedupe (
    key TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX tracking_dedupe_age ON tracking_dedupe (created_at);
  CREATE TABLE tracking_history (
    seq INTEGER PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    source TEXT NOT NULL,
    payload_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    event_json TEXT NOT NULL
  );
  CREATE INDEX tracking_history_by_number ON tracking_history (tracking_number, event_time);
  CREATE TRIGGER tracking_history_no_update BEFORE UPDATE ON tracking_history
    BEGIN SELECT RAISE(ABORT, 'tracking_history is append-only'); END;
  CREATE TRIGGER tracking_history_no_delete BEFORE DELETE ON tracking_history
    BEGIN SELECT RAISE(ABORT, 'tracking_history is append-only'); END;
  CREATE TABLE tracking_state (
    tracking_number TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    status TEXT,
    state_json TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE tracking_read (
    tracking_number TEXT PRIMARY KEY,
    doc_json TEXT NOT NULL,
    etag TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE tracking_review (
    hash TEXT PRIMARY KEY,
    tracking_number TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    event_time INTEGER NOT NULL,
    reason TEXT NOT NULL,
    flagged_at INTEGER NOT NULL
  );
  CREATE INDEX tracking_review_by_number ON tracking_review (tracking_number);
  CREATE TABLE tracking_dead_letters (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at INTEGER NOT NULL
  );
  CREATE TABLE tracking_poll_schedule (
    tracking_number TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    last_event_at INTEGER,
    last_webhook_at INTEGER,
    next_poll_at INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER
  );
  CREATE INDEX tracking_poll_due ON tracking_poll_schedule (next_poll_at);
  CREATE INDEX shipments_by_tracking_number ON shipments (tracking_number);
  `,
  // A customer's order history (GET /customers/{customerId}/orders): who the order belongs
  // to (orders/customer-key.ts: the merchant's customer id, else the lowercased email),
  // filled in for existing orders from their email, and the index its keyset pages walk.
  `
  ALTER TABLE orders ADD COLUMN customer_id TEXT;
  UPDATE orders SET customer_id = lower(json_extract(customer_json, '$.email')) WHERE customer_id IS NULL;
  CREATE INDEX orders_by_customer ON orders (customer_id, created_at, id);
  `,
  // Polling joined to the running backend (docs/backend.md, "Tracking: polling and ETA"):
  // the poll schedule carries what the hybrid policy decides on (status, ETA, mode, when the
  // entry was first noted) and next_poll_at may be NULL (stopped until news re-arms it);
  // SQLite cannot drop NOT NULL in place, so the table is rebuilt. Learned leg times per
  // (carrier, status): count / mean / M2, merged exactly (tracking/eta/leg-stats.ts).
  `
  CREATE TABLE tracking_poll_schedule_new (
    tracking_number TEXT PRIMARY KEY,
    carrier TEXT NOT NULL,
    status TEXT,
    eta_at INTEGER,
    last_event_at INTEGER,
    last_webhook_at INTEGER,
    created_at INTEGER NOT NULL,
    mode TEXT NOT NULL DEFAULT 'webhook' CHECK (mode IN ('webhook', 'polling')),
    next_poll_at INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER
  );
  INSERT INTO tracking_poll_schedule_new (tracking_number, carrier, status, last_event_at, last_webhook_at, created_at, next_poll_at, failures, lease_until)
    SELECT p.tracking_number, p.carrier, s.status, p.last_event_at, p.last_webhook_at,
           coalesce(p.last_webhook_at, p.last_event_at, p.next_poll_at), p.next_poll_at, p.failures, p.lease_until
    FROM tracking_poll_schedule p LEFT JOIN tracking_state s ON s.tracking_number = p.tracking_number;
  DROP TABLE tracking_poll_schedule;
  ALTER TABLE tracking_poll_schedule_new RENAME TO tracking_poll_schedule;
  CREATE INDEX tracking_poll_due ON tracking_poll_schedule (next_poll_at) WHERE next_poll_at IS NOT NULL;
  CREATE TABLE tracking_leg_stats (
    carrier TEXT NOT NULL,
    status TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    mean REAL NOT NULL,
    m2 REAL NOT NULL CHECK (m2 >= 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (carrier, status)
  );
  `,
  // Two reads on regular paths that walked a whole table or a whole locker's log (PostgreSQL step 5):
  // - an order's refunds, read for every order view an HTTP call answers with: refunds had no
  //   index on order_id (3.8 ms a read at 100,000 refunds, 0.02 ms with this one);
  // - the unprocessed audit records of a locker's epoch, read at each audit upload: the OR in
  //   its WHERE keeps the primary key to (locker_id, epoch), so it read every record the
  //   locker ever sent (3.8 ms at 50,000 records); the partial index holds only the pending few.
  `
  CREATE INDEX refunds_by_order ON refunds (order_id, created_at, id);
  CREATE INDEX audit_unprocessed ON audit_records (locker_id, epoch, seq) WHERE processed = 0;
  `,
  // Idempotency records are kept for a retention window (config idempotency.retentionMs),
  // then purged oldest first by the sweeper (PostgreSQL step 6): without it the table grew by
  // a row for every hold and order, forever.
  `
  CREATE INDEX idempotency_by_age ON idempotency (created_at);
  `,
  // GET /alerts pages newest first, over the whole fleet or one locker (PostgreSQL step 7): alerts
  // are kept, and the route used to return every alert ever raised in one answer.
  `
  CREATE INDEX alerts_by_time ON alerts (at, id);
  DROP INDEX alerts_by_locker;
  CREATE INDEX alerts_by_locker ON alerts (locker_id, at, id);
  `,
  // SQLite only (PostgreSQL keeps its heap and index): compartments clustered by (locker_id, id),
  // WITHOUT ROWID, and no separate state index. A locker's compartments share one page, so a
  // hold's claim finds a free one by reading that page and changes that page alone; with a
  // rowid table and compartments_by_state it changed two pages at random places in the file,
  // and every changed page is a WAL frame written at COMMIT (a hold's dominant cost on this
  // engine: 82 → 63 µs of SQLite work per hold). Nothing references compartments.
  `
  CREATE TABLE compartments_clustered (
    locker_id TEXT NOT NULL REFERENCES lockers (id),
    id TEXT NOT NULL,
    size TEXT NOT NULL CHECK (size IN ('S', 'M', 'L', 'XL')),
    width_mm INTEGER NOT NULL,
    height_mm INTEGER NOT NULL,
    depth_mm INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('free', 'held', 'reserved', 'occupied', 'out_of_service')),
    reservation_id TEXT,
    hold_expires_at INTEGER,
    PRIMARY KEY (locker_id, id)
  ) WITHOUT ROWID;
  INSERT INTO compartments_clustered (locker_id, id, size, width_mm, height_mm, depth_mm, state, reservation_id, hold_expires_at)
    SELECT locker_id, id, size, width_mm, height_mm, depth_mm, state, reservation_id, hold_expires_at FROM compartments;
  DROP TABLE compartments;
  ALTER TABLE compartments_clustered RENAME TO compartments;
  `,
  // Abandoned checkout holds (expired or released, never part of an order) are purged after
  // reservations.retentionMs (PostgreSQL step 9): at checkout rates they are most of the rows.
  `
  CREATE INDEX reservations_abandoned ON reservations (updated_at) WHERE status IN ('released', 'expired') AND order_id IS NULL;
  `,
  // Finished notifications (sent or given up) are purged after notifications.retentionMs
  // (PostgreSQL step 10): they hold customers' names, emails and phone numbers.
  `
  CREATE INDEX notifications_finished ON notifications (created_at) WHERE state <> 'pending';
  `,
  // Raw tracking payloads and dead letters are purged after tracking.rawRetentionMs
  // (PostgreSQL step 11): provider bodies are most of the tracking tables' bytes.
  `
  CREATE INDEX tracking_payloads_by_age ON tracking_payloads (received_at);
  CREATE INDEX tracking_dead_letters_by_age ON tracking_dead_letters (received_at);
  `,
  // Revoked code entries are deleted codeSync.revokedRetentionMs after their token expired
  // (PostgreSQL steps 12 and 13); deltas are then cut only from delta_floor on.
  `
  ALTER TABLE code_sets ADD COLUMN delta_floor INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX code_entries_revoked_expiry ON code_entries (expires_at) WHERE revoked_version IS NOT NULL;
  `,
  // Each carrier's polling budget, shared by every instance (PostgreSQL step 14).
  `
  CREATE TABLE tracking_carrier_budgets (
    carrier TEXT PRIMARY KEY,
    tokens REAL NOT NULL,
    updated_at INTEGER NOT NULL,
    paused_until INTEGER NOT NULL
  );
  `,
  // How many shipments each learned leg cell came from (PostgreSQL step 15): the ETA trusts
  // a cell by its shipments, not its scans. Rows learned before hold 0, since how many
  // parcels their scans came from is unknown: they keep shaping the mean and spread, but a
  // carrier is trusted again only once new shipments are counted (docs/backend.md, ETA).
  `
  ALTER TABLE tracking_leg_stats ADD COLUMN shipments INTEGER NOT NULL DEFAULT 0 CHECK (shipments >= 0);
  `,
  // Captures the provider declined, per order (PostgreSQL step 17): a declined key is spent
  // (the provider replays its decline), so the next attempt captures under a new one.
  `
  ALTER TABLE orders ADD COLUMN declined_captures INTEGER NOT NULL DEFAULT 0 CHECK (declined_captures >= 0);
  `,
  // Refunds that failed are kept for an operator (PostgreSQL steps 18 and 19): the
  // provider's decline, how often an operator sent it again (each retry pays under a new
  // key, since the provider replays a decline to its key), how many calls in a row lost
  // their answer (the sweeper backs off before asking again under the same key), and the
  // failed ones listed oldest first (GET /admin/refunds).
  `
  ALTER TABLE refunds ADD COLUMN retries INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0);
  ALTER TABLE refunds ADD COLUMN unanswered INTEGER NOT NULL DEFAULT 0 CHECK (unanswered >= 0);
  ALTER TABLE refunds ADD COLUMN last_error TEXT;
  CREATE INDEX refunds_failed ON refunds (created_at, id) WHERE state = 'failed';
  `,
  // Returns awaiting a drop-off, for the return-expiry sweep (PostgreSQL step 20): an
  // expired drop-off code frees its compartment.
  `
  CREATE INDEX shipments_return_requested ON shipments (locker_id, return_token_id) WHERE state = 'return_requested';
  `,
  // A capture sent to the provider whose answer is not recorded yet (PostgreSQL steps 21 and
  // 22): which attempt (its declines so far, which name its key) and when the sweeper may ask
  // the provider again under that key; the unanswered ones by when they are due.
  `
  ALTER TABLE orders ADD COLUMN capture_pending INTEGER CHECK (capture_pending >= 0);
  ALTER TABLE orders ADD COLUMN capture_due_at INTEGER;
  CREATE INDEX orders_capture_pending ON orders (capture_due_at, id) WHERE capture_pending IS NOT NULL;
  `,
  // Every tracking number in capitals (PostgreSQL step 23): earlier releases stored numbers
  // as typed, and GET /track, which reads capitals, missed them. Small-letter rows are
  // renamed and merged into their capital twins; the derived rows of every number touched
  // are dropped and listed in tracking_refold_pending for the start-up refold
  // (tracking/refold-pending.ts). Code, not SQL: history hashes must be computed again.
  capitaliseTrackingNumbers,
  // When a promise with no scan of its own was made, as its provider says (AfterShip
  // edd_revise `ts`; PostgreSQL step 24): it orders the revisions of one scan. received_at
  // stays when we received it: the apply lag, purges, the composite window and the poll
  // schedule measure arrivals, and a webhook retried for hours arrived now.
  `
  ALTER TABLE tracking_inbox ADD COLUMN revised_at INTEGER;
  `,
];

export const SQLITE_SCHEMA_VERSION = steps.length;

/** Brings the schema to `upTo` steps (default: all); tests stop earlier to build an old file. */
export function migrate(db: Database.Database, upTo: number = steps.length): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > steps.length) {
    // Written by newer code: its tables may mean things this code does not know. Refuse
    // rather than run on it (the operator rolls forward, or restores a backup).
    throw new BackendError('DB_TOO_NEW', 'the database was migrated by a newer backend; refusing to run on it', { databaseVersion: current, codeVersion: steps.length });
  }
  for (let v = current; v < Math.min(upTo, steps.length); v++) {
    const step = steps[v];
    if (step === undefined) break;
    db.transaction(() => {
      if (typeof step === 'string') db.exec(step);
      else step(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
