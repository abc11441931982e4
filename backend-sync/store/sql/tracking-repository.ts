import { z } from 'zod';
import type { Flag } from '../../tracking/core/tracking-fold.js';
import { TrackingProjection, emptyProjection } from '../../tracking/core/tracking-fold.js';
import { CanonicalTrackingEvent, TrackingSource, TrackingStatus } from '../../tracking/tracking-event.js';
import type { CompositeProbe } from '../../tracking/core/event-identity.js';
import type { DeadLetterQuery, DeadLetterRow, DeadLetterSummary, HistoryEntry, HistoryRow, InboxClaim, InboxEntry, InboxRow, ReadModelRow, ReviewRow, StoredProjection, TrackingRepository } from '../../tracking/tracking-store.js';
import { readJson } from './json-column.js';
import type { SqlExecutor } from './sql-executor.js';
import { sql, sqlPer } from './sql-text.js';

// Tracking tables (docs/backend.md, "Tracking"). On PostgreSQL a batch goes in as ONE
// statement: the rows travel as a JSON array (json_array_elements), so a thousand events cost
// one round trip. On SQLite there is no round trip to save, and unpacking a JSON array in
// SQL (json_each + json_extract per column) costs ~3× a prepared single-row statement, so the
// hot batch writes and lookups run row by row (SqlExecutor.runEach/oneEach, one synchronous
// step). Events are stored as their canonical JSON and read back through the schema.

const insertPayload = sql(`INSERT INTO tracking_payloads (id, source, body, received_at) VALUES (@id, @source, @body, @receivedAt)`);

const enqueue = sqlPer({
  sqlite: `INSERT INTO tracking_inbox (tracking_number, payload_id, source, event_json, received_at, revised_at)
           SELECT json_extract(value, '$.t'), json_extract(value, '$.p'), json_extract(value, '$.s'), json_extract(value, '$.e'), json_extract(value, '$.r'), json_extract(value, '$.v')
           FROM json_each(@rows) ORDER BY key`,
  postgres: `INSERT INTO tracking_inbox (tracking_number, payload_id, source, event_json, received_at, revised_at)
           SELECT x->>'t', x->>'p', x->>'s', x->>'e', (x->>'r')::bigint, (x->>'v')::bigint FROM json_array_elements(@rows::json) WITH ORDINALITY AS a(x, n) ORDER BY n`,
});
const enqueueRow = sql(`INSERT INTO tracking_inbox (tracking_number, payload_id, source, event_json, received_at, revised_at) VALUES (?, ?, ?, ?, ?, ?)`);
const inboxSize = sql(`SELECT count(*) AS n FROM tracking_inbox`);
// A scrape must not walk a backlog of millions (a provider replaying a day): count at most
// @cap rows; the oldest row is one step down the primary key.
const inboxBacklog = sql(
  `SELECT (SELECT count(*) FROM (SELECT 1 FROM tracking_inbox LIMIT @cap) AS head) AS n,
          (SELECT received_at FROM tracking_inbox ORDER BY seq LIMIT 1) AS oldest`,
);
const INBOX_COLS = 'seq, tracking_number, payload_id, source, event_json, received_at, revised_at';
// The numbers of the oldest rows (fair: the head of the inbox goes first), with every
// pending row of theirs: a backlog is folded per number in one step, not one row at a time.
// When the rows cap cuts in, it takes whole numbers, oldest first (on SQLite only the last
// one may be cut; on PostgreSQL every head number's oldest row is in, so those past the cap
// are split): a number split over two batches costs its projection, read model and poll
// note twice. The rows come back in arrival order.
// On PostgreSQL concurrent instances take different heads: the head is each number's oldest
// pending row (no older row of it left in the inbox), locked with SKIP LOCKED, and the rest
// of a number's rows are claimed only with its head. While one instance holds a number's
// oldest rows, its later ones are nobody's head, so no other instance applies them first
// (they would be stored as late scans and the number refolded, its milestones looked at
// twice); they wait for the batch that deletes the older ones. tracking_inbox_by_number
// answers the "older row" probe.
const OLDEST_OF_ITS_NUMBER = `NOT EXISTS (SELECT 1 FROM tracking_inbox AS o WHERE o.tracking_number = t.tracking_number AND o.seq < t.seq)`;
const claimInbox = sqlPer({
  sqlite: `SELECT ${INBOX_COLS} FROM tracking_inbox WHERE seq IN (
             SELECT i.seq FROM tracking_inbox AS i
             JOIN (SELECT tracking_number, min(seq) AS first FROM (SELECT tracking_number, seq FROM tracking_inbox ORDER BY seq LIMIT @numbers) GROUP BY tracking_number) AS h
               ON i.tracking_number = h.tracking_number
             ORDER BY h.first, i.seq LIMIT @rows)
           ORDER BY seq`,
  postgres: `WITH head AS (SELECT tracking_number, seq FROM tracking_inbox AS t WHERE ${OLDEST_OF_ITS_NUMBER}
                         ORDER BY seq LIMIT least(@numbers::bigint, @rows::bigint) FOR UPDATE SKIP LOCKED),
                rest AS (SELECT i.seq FROM tracking_inbox AS i JOIN head AS f ON i.tracking_number = f.tracking_number
                         WHERE i.seq > f.seq
                         ORDER BY f.seq, i.seq LIMIT greatest(0, @rows - (SELECT count(*) FROM head)) FOR UPDATE OF i SKIP LOCKED)
           SELECT ${INBOX_COLS} FROM tracking_inbox WHERE seq IN (SELECT seq FROM head UNION ALL SELECT seq FROM rest) ORDER BY seq`,
});
// One number's rows, from its oldest: nothing when another instance holds that one.
const claimInboxOf = sqlPer({
  sqlite: `SELECT ${INBOX_COLS} FROM tracking_inbox WHERE tracking_number = @trackingNumber ORDER BY seq LIMIT @rows`,
  postgres: `WITH head AS (SELECT seq FROM tracking_inbox AS t WHERE tracking_number = @trackingNumber AND ${OLDEST_OF_ITS_NUMBER} FOR UPDATE SKIP LOCKED),
                rest AS (SELECT i.seq FROM tracking_inbox AS i JOIN head AS f ON i.seq > f.seq WHERE i.tracking_number = @trackingNumber
                         ORDER BY i.seq LIMIT greatest(0, @rows - 1) FOR UPDATE OF i SKIP LOCKED)
           SELECT ${INBOX_COLS} FROM tracking_inbox WHERE seq IN (SELECT seq FROM head UNION ALL SELECT seq FROM rest) ORDER BY seq`,
});
const deleteInbox = sqlPer({
  sqlite: `DELETE FROM tracking_inbox WHERE seq IN (SELECT value FROM json_each(?))`,
  postgres: `DELETE FROM tracking_inbox WHERE seq IN (SELECT (json_array_elements_text(?::json))::bigint)`,
});

const insertDeadLetter = sql(`INSERT INTO tracking_dead_letters (id, source, body, reason, received_at) VALUES (@id, @source, @body, @reason, @receivedAt)`);
const deadLetters = sql(`SELECT id, source, body, reason, received_at FROM tracking_dead_letters ORDER BY received_at, id`);
// The list reads no whole body: the size and a preview are cut in SQL (a dead letter may be a
// provider's megabyte payload). SQLite's length() of TEXT counts characters, hence the BLOB cast
// for bytes. received_at is walked newest first through tracking_dead_letters_by_age; the id
// breaks ties among letters received in the same millisecond, so a page boundary never
// repeats or skips one.
const DEAD_LETTER_PAGE_WHERE = `WHERE (@hasSource = 0 OR source = @source)
     AND (@hasFrom = 0 OR received_at >= @from)
     AND (@hasTo = 0 OR received_at < @to)
     AND (@hasAfter = 0 OR received_at < @afterAt OR (received_at = @afterAt AND id < @afterId))
   ORDER BY received_at DESC, id DESC
   LIMIT @limit`;
const listDeadLetters = sqlPer({
  sqlite: `SELECT id, source, reason, received_at, length(CAST(body AS BLOB)) AS body_bytes, substr(body, 1, @previewChars) AS preview FROM tracking_dead_letters ${DEAD_LETTER_PAGE_WHERE}`,
  postgres: `SELECT id, source, reason, received_at, octet_length(body) AS body_bytes, substr(body, 1, @previewChars) AS preview FROM tracking_dead_letters ${DEAD_LETTER_PAGE_WHERE}`,
});
const getDeadLetter = sql(`SELECT id, source, body, reason, received_at FROM tracking_dead_letters WHERE id = @id`);
const takeDeadLetter = sql(`DELETE FROM tracking_dead_letters WHERE id = @id RETURNING id, source, body, reason, received_at`);

const KEY_LIST = { sqlite: `SELECT value FROM json_each(?)`, postgres: `SELECT json_array_elements_text(?::json)` };
const existingKeys = sqlPer({
  sqlite: `SELECT key FROM tracking_dedupe WHERE key IN (${KEY_LIST.sqlite})`,
  postgres: `SELECT key FROM tracking_dedupe WHERE key IN (${KEY_LIST.postgres})`,
});
const existingHashes = sqlPer({
  sqlite: `SELECT hash FROM tracking_history WHERE hash IN (${KEY_LIST.sqlite})`,
  postgres: `SELECT hash FROM tracking_history WHERE hash IN (${KEY_LIST.postgres})`,
});
const keyExists = sql(`SELECT 1 AS x FROM tracking_dedupe WHERE key = ?`);
const hashExists = sql(`SELECT 1 AS x FROM tracking_history WHERE hash = ?`);
const compositeHit = sql(
  `SELECT 1 AS x FROM tracking_history WHERE tracking_number = ? AND event_time BETWEEN ? AND ? AND status = ? AND received_at >= ? LIMIT 1`,
);
const compositeHits = sql(
  `SELECT (a.n - 1)::int AS i FROM json_array_elements(?::json) WITH ORDINALITY AS a(x, n)
   WHERE EXISTS (SELECT 1 FROM tracking_history h WHERE h.tracking_number = x->>'t' AND h.event_time BETWEEN (x->>'f')::bigint AND (x->>'u')::bigint
                 AND h.status = x->>'s' AND h.received_at >= ?)`,
);
const recordKey = sql(`INSERT INTO tracking_dedupe (key, created_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`);
const recordKeys = sqlPer({
  sqlite: `INSERT INTO tracking_dedupe (key, created_at) SELECT value, @now FROM json_each(@keys) WHERE true ON CONFLICT (key) DO NOTHING RETURNING key`,
  postgres: `INSERT INTO tracking_dedupe (key, created_at) SELECT k, @now FROM json_array_elements_text(@keys::json) AS k ON CONFLICT (key) DO NOTHING RETURNING key`,
});
// A key protects against replays received within the window after it: one an inbox row
// received still needs (a replay waiting in a backlog) stays, as the payloads below do.
const KEY_INBOX_GUARD = `coalesce((SELECT received_at FROM tracking_inbox ORDER BY seq LIMIT 1) - @window - ${String(24 * 3_600_000)}, @before)`;
const purgeKeys = sqlPer({
  sqlite: `DELETE FROM tracking_dedupe WHERE key IN (SELECT key FROM tracking_dedupe WHERE created_at < @before AND created_at < ${KEY_INBOX_GUARD} ORDER BY created_at LIMIT @limit)`,
  postgres: `DELETE FROM tracking_dedupe WHERE key IN (SELECT key FROM tracking_dedupe WHERE created_at < @before AND created_at < ${KEY_INBOX_GUARD} ORDER BY created_at LIMIT @limit FOR UPDATE SKIP LOCKED)`,
});

// Oldest first through the *_by_age indexes. A payload whose events still wait in the inbox
// stays: the cutoff is never past a day before the oldest inbox row, found one step down the
// primary key (min(received_at) would walk a backlog of millions at every sweep). The day
// covers the clock skew between instances: received_at is each one's clock, seq is shared.
// Several instances purge at once on PostgreSQL, skipping locked rows.
const INBOX_GUARD = `coalesce((SELECT received_at FROM tracking_inbox ORDER BY seq LIMIT 1) - ${String(24 * 3_600_000)}, @before)`;
const purgePayloads = sqlPer({
  sqlite: `DELETE FROM tracking_payloads WHERE id IN (
             SELECT id FROM tracking_payloads WHERE received_at < @before AND received_at < ${INBOX_GUARD}
             ORDER BY received_at LIMIT @limit)`,
  postgres: `DELETE FROM tracking_payloads WHERE id IN (
             SELECT id FROM tracking_payloads WHERE received_at < @before AND received_at < ${INBOX_GUARD}
             ORDER BY received_at LIMIT @limit FOR UPDATE SKIP LOCKED)`,
});
const purgeDeadLetters = sqlPer({
  sqlite: `DELETE FROM tracking_dead_letters WHERE id IN (SELECT id FROM tracking_dead_letters WHERE received_at < @before ORDER BY received_at LIMIT @limit)`,
  postgres: `DELETE FROM tracking_dead_letters WHERE id IN (SELECT id FROM tracking_dead_letters WHERE received_at < @before ORDER BY received_at LIMIT @limit FOR UPDATE SKIP LOCKED)`,
});

const appendHistory = sqlPer({
  sqlite: `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json)
           SELECT json_extract(value, '$.t'), json_extract(value, '$.h'), json_extract(value, '$.st'), json_extract(value, '$.et'),
                  json_extract(value, '$.s'), json_extract(value, '$.p'), json_extract(value, '$.r'), json_extract(value, '$.e')
           FROM json_each(@rows) WHERE true ORDER BY key
           ON CONFLICT (hash) DO NOTHING RETURNING hash`,
  postgres: `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json)
           SELECT x->>'t', x->>'h', x->>'st', (x->>'et')::bigint, x->>'s', x->>'p', (x->>'r')::bigint, x->>'e'
           FROM json_array_elements(@rows::json) WITH ORDINALITY AS a(x, n) ORDER BY n
           ON CONFLICT (hash) DO NOTHING RETURNING hash`,
});
const appendHistoryRow = sql(
  `INSERT INTO tracking_history (tracking_number, hash, status, event_time, source, payload_id, received_at, event_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
   ON CONFLICT (hash) DO NOTHING`,
);
const history = sql(`SELECT seq, tracking_number, hash, source, payload_id, received_at, event_json FROM tracking_history WHERE tracking_number = ? ORDER BY seq`);
// One row down the history's unique hash index.
const historyEntry = sql(`SELECT seq, tracking_number, hash, source, payload_id, received_at, event_json FROM tracking_history WHERE hash = ? AND tracking_number = ?`);
// Scans only: a promise revision's row repeats its scan's status and time (core/event-identity.ts).
const timelines = sqlPer({
  sqlite: `SELECT tracking_number, status, event_time FROM tracking_history WHERE tracking_number IN (SELECT value FROM json_each(?)) AND hash NOT LIKE '%~p%'`,
  postgres: `SELECT tracking_number, status, event_time FROM tracking_history WHERE tracking_number IN (SELECT json_array_elements_text(?::json)) AND hash NOT LIKE '%~p%'`,
});
const historyNumbers = sql(`SELECT DISTINCT tracking_number FROM tracking_history WHERE tracking_number > ? ORDER BY tracking_number LIMIT ?`);
// Every table that holds a row per number: a derived row whose number has no history must
// be found too (the rebuild removes it). Each arm reads at most one page along its primary
// key or its index on the number, so a page costs the same however far the walk is.
const numbersAfter = (table: string): string =>
  `SELECT tracking_number FROM (SELECT DISTINCT tracking_number FROM ${table} WHERE tracking_number > @after ORDER BY tracking_number LIMIT @limit) AS ${table}_page`;
const trackedNumbers = sql(
  `SELECT tracking_number FROM (${['tracking_history', 'tracking_state', 'tracking_read', 'tracking_review'].map(numbersAfter).join(' UNION ')}) AS n
   ORDER BY tracking_number LIMIT @limit`,
);

const pendingRefolds = sql(`SELECT tracking_number FROM tracking_refold_pending WHERE tracking_number > @after ORDER BY tracking_number LIMIT @limit`);
const takePendingRefold = sql(`DELETE FROM tracking_refold_pending WHERE tracking_number = ?`);

const ensureState = sql(
  `INSERT INTO tracking_state (tracking_number, carrier, status, state_json, version, updated_at) VALUES (@tn, @carrier, NULL, @state, 0, @now)
   ON CONFLICT (tracking_number) DO NOTHING`,
);
const lockState = sqlPer({
  sqlite: `SELECT state_json, version FROM tracking_state WHERE tracking_number = ?`,
  postgres: `SELECT state_json, version FROM tracking_state WHERE tracking_number = ? FOR UPDATE`,
});
const getState = sql(`SELECT state_json, version FROM tracking_state WHERE tracking_number = ?`);
// The carrier column follows the projection's (a row a shipment created names the merchant's spelling until the first scan).
const saveState = sql(`UPDATE tracking_state SET carrier = @carrier, status = @status, state_json = @state, version = version + 1, updated_at = @now WHERE tracking_number = @tn`);

const ensureStates = sqlPer({
  sqlite: `INSERT INTO tracking_state (tracking_number, carrier, status, state_json, version, updated_at)
           SELECT json_extract(value, '$.t'), json_extract(value, '$.c'), NULL, json_extract(value, '$.s'), 0, @now FROM json_each(@rows) WHERE true
           ON CONFLICT (tracking_number) DO NOTHING`,
  postgres: `INSERT INTO tracking_state (tracking_number, carrier, status, state_json, version, updated_at)
           SELECT x->>'t', x->>'c', NULL, x->>'s', 0, @now FROM json_array_elements(@rows::json) AS a(x)
           ON CONFLICT (tracking_number) DO NOTHING`,
});
// Sorted, so two instances locking overlapping sets wait for each other instead of deadlocking.
const lockStates = sqlPer({
  sqlite: `SELECT tracking_number, state_json, version FROM tracking_state WHERE tracking_number IN (SELECT value FROM json_each(?)) ORDER BY tracking_number`,
  postgres: `SELECT tracking_number, state_json, version FROM tracking_state WHERE tracking_number IN (SELECT json_array_elements_text(?::json)) ORDER BY tracking_number FOR UPDATE`,
});
const saveStates = sqlPer({
  sqlite: `UPDATE tracking_state SET carrier = j.carrier, status = j.status, state_json = j.state, version = version + 1, updated_at = @now
           FROM (SELECT json_extract(value, '$.t') AS tn, json_extract(value, '$.c') AS carrier, json_extract(value, '$.st') AS status, json_extract(value, '$.s') AS state FROM json_each(@rows)) AS j
           WHERE tracking_state.tracking_number = j.tn`,
  postgres: `UPDATE tracking_state AS s SET carrier = j.x->>'c', status = j.x->>'st', state_json = j.x->>'s', version = s.version + 1, updated_at = @now
           FROM json_array_elements(@rows::json) AS j(x) WHERE s.tracking_number = j.x->>'t'`,
});
const putReads = sqlPer({
  sqlite: `INSERT INTO tracking_read (tracking_number, doc_json, etag, updated_at)
           SELECT json_extract(value, '$.t'), json_extract(value, '$.d'), json_extract(value, '$.e'), @now FROM json_each(@rows) WHERE true
           ON CONFLICT (tracking_number) DO UPDATE SET doc_json = excluded.doc_json, etag = excluded.etag, updated_at = excluded.updated_at`,
  postgres: `INSERT INTO tracking_read (tracking_number, doc_json, etag, updated_at)
           SELECT x->>'t', x->>'d', x->>'e', @now FROM json_array_elements(@rows::json) AS a(x)
           ON CONFLICT (tracking_number) DO UPDATE SET doc_json = excluded.doc_json, etag = excluded.etag, updated_at = excluded.updated_at`,
});
const numbersWithShipments = sqlPer({
  sqlite: `SELECT DISTINCT tracking_number FROM shipments WHERE tracking_number IN (SELECT value FROM json_each(?))`,
  postgres: `SELECT DISTINCT tracking_number FROM shipments WHERE tracking_number IN (SELECT json_array_elements_text(?::json))`,
});

const putRead = sql(
  `INSERT INTO tracking_read (tracking_number, doc_json, etag, updated_at) VALUES (@tn, @doc, @etag, @now)
   ON CONFLICT (tracking_number) DO UPDATE SET doc_json = excluded.doc_json, etag = excluded.etag, updated_at = excluded.updated_at`,
);
const getRead = sql(`SELECT doc_json, etag FROM tracking_read WHERE tracking_number = ?`);
const deleteRead = sql(`DELETE FROM tracking_read WHERE tracking_number = ?`);

const addFlag = sql(
  `INSERT INTO tracking_review (hash, tracking_number, from_status, to_status, event_time, reason, flagged_at) VALUES (@hash, @tn, @from, @to, @eventTime, @reason, @now)
   ON CONFLICT (hash) DO NOTHING`,
);
const clearFlags = sql(`DELETE FROM tracking_review WHERE tracking_number = ?`);
const REVIEW_COLS = 'hash, tracking_number, from_status, to_status, event_time, reason, flagged_at';
const flagsOf = sql(`SELECT ${REVIEW_COLS} FROM tracking_review WHERE tracking_number = ? ORDER BY event_time, hash`);
const allFlags = sql(`SELECT ${REVIEW_COLS} FROM tracking_review ORDER BY tracking_number, event_time, hash`);

interface EventRow {
  seq: number;
  tracking_number: string;
  payload_id: string;
  source: string;
  event_json: string;
  received_at: number;
  /** Inbox rows only (history rows have none). */
  revised_at?: number | string | null;
}

interface ReviewDbRow {
  hash: string;
  tracking_number: string;
  from_status: string | null;
  to_status: string;
  event_time: number;
  reason: string;
  flagged_at: number;
}

const review = (r: ReviewDbRow): ReviewRow => ({ hash: r.hash, trackingNumber: r.tracking_number, from: r.from_status, to: r.to_status, eventTime: r.event_time, reason: r.reason, flaggedAt: r.flagged_at });
const StoredSource = z.string().pipe(TrackingSource);
const StoredStatus = z.string().pipe(TrackingStatus);

/** The values whose lookup found a row. */
function present(values: readonly string[], found: readonly unknown[]): Set<string> {
  const out = new Set<string>();
  values.forEach((v, i) => {
    if (found[i] !== undefined) out.add(v);
  });
  return out;
}

/** The values whose insert-if-absent wrote a row (the others existed already). */
function changed(values: readonly string[], counts: readonly number[]): Set<string> {
  const out = new Set<string>();
  values.forEach((v, i) => {
    if (counts[i] === 1) out.add(v);
  });
  return out;
}

export class SqlTrackingRepository implements TrackingRepository {
  constructor(private readonly x: SqlExecutor) {}

  private eventRow(r: EventRow, table: string): InboxRow {
    return {
      seq: r.seq,
      trackingNumber: r.tracking_number,
      payloadId: r.payload_id,
      source: StoredSource.parse(r.source),
      event: readJson(CanonicalTrackingEvent, r.event_json, { table, column: 'event_json', key: { seq: r.seq } }),
      eventJson: r.event_json,
      receivedAt: r.received_at,
      ...(r.revised_at === null || r.revised_at === undefined ? {} : { revisedAt: Number(r.revised_at) }),
    };
  }

  private claimed(rows: readonly EventRow[]): InboxClaim {
    const claim: InboxClaim = { rows: [], unreadable: [] };
    for (const r of rows) {
      try {
        claim.rows.push(this.eventRow(r, 'tracking_inbox'));
      } catch (err) {
        const source = TrackingSource.safeParse(r.source);
        const reason = `${err instanceof Error ? err.message : String(err)}${source.success ? '' : ` (stored source: ${r.source.slice(0, 40)})`}`;
        claim.unreadable.push({ seq: r.seq, trackingNumber: r.tracking_number, source: source.success ? source.data : 'canonical', eventJson: r.event_json, receivedAt: r.received_at, reason });
      }
    }
    return claim;
  }

  async insertPayload(p: { id: string; source: TrackingSource; body: string; receivedAt: number }): Promise<void> {
    await this.x.run(insertPayload, { id: p.id, source: p.source, body: p.body, receivedAt: p.receivedAt });
  }

  async enqueue(entries: readonly InboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    if (this.x.engine === 'sqlite') {
      await this.x.runEach(
        enqueueRow,
        entries.map((e) => [e.trackingNumber, e.payloadId, e.source, JSON.stringify(e.event), e.receivedAt, e.revisedAt ?? null]),
      );
      return;
    }
    const rows = entries.map((e) => ({ t: e.trackingNumber, p: e.payloadId, s: e.source, e: JSON.stringify(e.event), r: e.receivedAt, v: e.revisedAt ?? null }));
    await this.x.run(enqueue, { rows: JSON.stringify(rows) });
  }

  async inboxSize(): Promise<number> {
    return (await this.x.one<{ n: number }>(inboxSize))?.n ?? 0;
  }

  async inboxBacklog(cap: number): Promise<{ events: number; oldestReceivedAt: number | null }> {
    const r = await this.x.one<{ n: number | string; oldest: number | string | null }>(inboxBacklog, { cap });
    return { events: Number(r?.n ?? 0), oldestReceivedAt: r?.oldest === null || r?.oldest === undefined ? null : Number(r.oldest) };
  }

  async claimInbox(numbers: number, rows: number): Promise<InboxClaim> {
    return this.claimed(await this.x.all<EventRow>(claimInbox, { numbers, rows }));
  }

  async claimInboxOf(trackingNumber: string, rows: number): Promise<InboxClaim> {
    return this.claimed(await this.x.all<EventRow>(claimInboxOf, { trackingNumber, rows }));
  }

  async deleteInbox(seqs: readonly number[]): Promise<void> {
    if (seqs.length > 0) await this.x.run(deleteInbox, [JSON.stringify(seqs)]);
  }

  async deadLetter(d: DeadLetterRow): Promise<void> {
    await this.x.run(insertDeadLetter, { id: d.id, source: d.source, body: d.body, reason: d.reason, receivedAt: d.receivedAt });
  }

  async deadLetters(): Promise<DeadLetterRow[]> {
    const rows = await this.x.all<{ id: string; source: string; body: string; reason: string; received_at: number }>(deadLetters);
    return rows.map((r) => ({ id: r.id, source: StoredSource.parse(r.source), body: r.body, reason: r.reason, receivedAt: r.received_at }));
  }

  async listDeadLetters(q: DeadLetterQuery): Promise<DeadLetterSummary[]> {
    const rows = await this.x.all<{ id: string; source: string; reason: string; received_at: number | string; body_bytes: number | string; preview: string }>(listDeadLetters, {
      hasSource: q.source === undefined ? 0 : 1,
      source: q.source ?? '',
      hasFrom: q.from === undefined ? 0 : 1,
      from: q.from ?? 0,
      hasTo: q.to === undefined ? 0 : 1,
      to: q.to ?? 0,
      hasAfter: q.after === undefined ? 0 : 1,
      afterAt: q.after?.receivedAt ?? 0,
      afterId: q.after?.id ?? '',
      limit: q.limit,
      previewChars: q.previewChars,
    });
    return rows.map((r) => ({ id: r.id, source: StoredSource.parse(r.source), reason: r.reason, receivedAt: Number(r.received_at), bodyBytes: Number(r.body_bytes), preview: r.preview }));
  }

  async getDeadLetter(id: string): Promise<DeadLetterRow | undefined> {
    const r = await this.x.one<{ id: string; source: string; body: string; reason: string; received_at: number | string }>(getDeadLetter, { id });
    return r === undefined ? undefined : { id: r.id, source: StoredSource.parse(r.source), body: r.body, reason: r.reason, receivedAt: Number(r.received_at) };
  }

  async takeDeadLetter(id: string): Promise<DeadLetterRow | undefined> {
    const [r] = await this.x.all<{ id: string; source: string; body: string; reason: string; received_at: number }>(takeDeadLetter, { id });
    return r === undefined ? undefined : { id: r.id, source: StoredSource.parse(r.source), body: r.body, reason: r.reason, receivedAt: r.received_at };
  }

  async existingKeys(keys: readonly string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    if (this.x.engine === 'sqlite') return present(keys, await this.x.oneEach(keyExists, keys.map((k) => [k])));
    return new Set((await this.x.all<{ key: string }>(existingKeys, [JSON.stringify(keys)])).map((r) => r.key));
  }

  async existingHashes(hashes: readonly string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set();
    if (this.x.engine === 'sqlite') return present(hashes, await this.x.oneEach(hashExists, hashes.map((h) => [h])));
    return new Set((await this.x.all<{ hash: string }>(existingHashes, [JSON.stringify(hashes)])).map((r) => r.hash));
  }

  async compositeHits(probes: readonly CompositeProbe[], since: number): Promise<boolean[]> {
    if (probes.length === 0) return [];
    if (this.x.engine === 'sqlite') {
      return (await this.x.oneEach(compositeHit, probes.map((p) => [p.trackingNumber, p.from, p.to, p.status, since]))).map((r) => r !== undefined);
    }
    const hits = new Set((await this.x.all<{ i: number }>(compositeHits, [JSON.stringify(probes.map((p) => ({ t: p.trackingNumber, s: p.status, f: p.from, u: p.to }))), since])).map((r) => r.i));
    return probes.map((_, i) => hits.has(i));
  }

  async recordKeys(keys: readonly string[], now: number): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    if (this.x.engine === 'sqlite') return changed(keys, await this.x.runEach(recordKey, keys.map((k) => [k, now])));
    return new Set((await this.x.all<{ key: string }>(recordKeys, { keys: JSON.stringify(keys), now })).map((r) => r.key));
  }

  purgeKeys(now: number, windowMs: number, limit: number): Promise<number> {
    return this.x.run(purgeKeys, { before: now - windowMs, window: windowMs, limit });
  }

  async purgeRaw(before: number, limit: number): Promise<number> {
    return (await this.x.run(purgePayloads, { before, limit })) + (await this.x.run(purgeDeadLetters, { before, limit }));
  }

  async appendHistory(entries: readonly HistoryEntry[]): Promise<Set<string>> {
    if (entries.length === 0) return new Set();
    if (this.x.engine === 'sqlite') {
      const rows = entries.map((e) => [e.trackingNumber, e.hash, e.event.status, e.event.eventTime, e.source, e.payloadId, e.receivedAt, e.eventJson ?? JSON.stringify(e.event)]);
      return changed(
        entries.map((e) => e.hash),
        await this.x.runEach(appendHistoryRow, rows),
      );
    }
    const rows = entries.map((e) => ({ t: e.trackingNumber, h: e.hash, st: e.event.status, et: e.event.eventTime, s: e.source, p: e.payloadId, r: e.receivedAt, e: e.eventJson ?? JSON.stringify(e.event) }));
    return new Set((await this.x.all<{ hash: string }>(appendHistory, { rows: JSON.stringify(rows) })).map((r) => r.hash));
  }

  async history(trackingNumber: string): Promise<HistoryRow[]> {
    const rows = await this.x.all<EventRow & { hash: string }>(history, [trackingNumber]);
    return rows.map((r) => ({ ...this.eventRow(r, 'tracking_history'), hash: r.hash }));
  }

  async historyEntry(trackingNumber: string, hash: string): Promise<HistoryRow | undefined> {
    const r = await this.x.one<EventRow & { hash: string }>(historyEntry, [hash, trackingNumber]);
    return r === undefined ? undefined : { ...this.eventRow(r, 'tracking_history'), hash: r.hash };
  }

  async timelines(trackingNumbers: readonly string[]): Promise<Map<string, Array<{ status: TrackingStatus; eventTime: number }>>> {
    const out = new Map<string, Array<{ status: TrackingStatus; eventTime: number }>>();
    if (trackingNumbers.length === 0) return out;
    for (const r of await this.x.all<{ tracking_number: string; status: string; event_time: number | string }>(timelines, [JSON.stringify(trackingNumbers)])) {
      const list = out.get(r.tracking_number) ?? [];
      list.push({ status: StoredStatus.parse(r.status), eventTime: Number(r.event_time) });
      out.set(r.tracking_number, list);
    }
    return out;
  }

  async historyNumbers(after: string | undefined, limit: number): Promise<string[]> {
    return (await this.x.all<{ tracking_number: string }>(historyNumbers, [after ?? '', limit])).map((r) => r.tracking_number);
  }

  async trackedNumbers(after: string | undefined, limit: number): Promise<string[]> {
    return (await this.x.all<{ tracking_number: string }>(trackedNumbers, { after: after ?? '', limit })).map((r) => r.tracking_number);
  }

  async pendingRefolds(after: string | undefined, limit: number): Promise<string[]> {
    return (await this.x.all<{ tracking_number: string }>(pendingRefolds, { after: after ?? '', limit })).map((r) => r.tracking_number);
  }

  async takePendingRefold(trackingNumber: string): Promise<boolean> {
    return (await this.x.run(takePendingRefold, [trackingNumber])) > 0;
  }

  private stored(r: { state_json: string; version: number }, tn: string): StoredProjection {
    return { projection: readJson(TrackingProjection, r.state_json, { table: 'tracking_state', column: 'state_json', key: { trackingNumber: tn } }), version: r.version };
  }

  async lockProjection(trackingNumber: string, carrier: string, now: number): Promise<StoredProjection> {
    await this.x.run(ensureState, { tn: trackingNumber, carrier, state: JSON.stringify(emptyProjection(trackingNumber, carrier)), now });
    const r = await this.x.one<{ state_json: string; version: number }>(lockState, [trackingNumber]);
    if (r === undefined) throw new Error(`tracking_state row vanished: ${trackingNumber}`);
    return this.stored(r, trackingNumber);
  }

  async lockProjections(numbers: ReadonlyArray<{ trackingNumber: string; carrier: string }>, now: number): Promise<Map<string, StoredProjection>> {
    const out = new Map<string, StoredProjection>();
    if (numbers.length === 0) return out;
    const rows = numbers.map((n) => ({ t: n.trackingNumber, c: n.carrier, s: JSON.stringify(emptyProjection(n.trackingNumber, n.carrier)) }));
    await this.x.run(ensureStates, { rows: JSON.stringify(rows), now });
    const got = await this.x.all<{ tracking_number: string; state_json: string; version: number }>(lockStates, [JSON.stringify(numbers.map((n) => n.trackingNumber))]);
    for (const r of got) out.set(r.tracking_number, this.stored(r, r.tracking_number));
    return out;
  }

  async saveProjections(ps: readonly TrackingProjection[], now: number): Promise<void> {
    if (ps.length === 0) return;
    if (this.x.engine === 'sqlite') {
      for (const p of ps) await this.saveProjection(p, now);
      return;
    }
    await this.x.run(saveStates, { rows: JSON.stringify(ps.map((p) => ({ t: p.trackingNumber, c: p.carrier, st: p.status, s: JSON.stringify(p) }))), now });
  }

  async putReadModels(rows: ReadonlyArray<{ trackingNumber: string; row: ReadModelRow }>, now: number): Promise<void> {
    if (rows.length === 0) return;
    if (this.x.engine === 'sqlite') {
      for (const r of rows) await this.putReadModel(r.trackingNumber, r.row, now);
      return;
    }
    await this.x.run(putReads, { rows: JSON.stringify(rows.map((r) => ({ t: r.trackingNumber, d: r.row.docJson, e: r.row.etag }))), now });
  }

  async numbersWithShipments(numbers: readonly string[]): Promise<Set<string>> {
    if (numbers.length === 0) return new Set();
    return new Set((await this.x.all<{ tracking_number: string }>(numbersWithShipments, [JSON.stringify(numbers)])).map((r) => r.tracking_number));
  }

  async projection(trackingNumber: string): Promise<StoredProjection | undefined> {
    const r = await this.x.one<{ state_json: string; version: number }>(getState, [trackingNumber]);
    return r === undefined ? undefined : this.stored(r, trackingNumber);
  }

  async saveProjection(p: TrackingProjection, now: number): Promise<void> {
    await this.x.run(saveState, { tn: p.trackingNumber, carrier: p.carrier, status: p.status, state: JSON.stringify(p), now });
  }

  async putReadModel(trackingNumber: string, row: ReadModelRow, now: number): Promise<void> {
    await this.x.run(putRead, { tn: trackingNumber, doc: row.docJson, etag: row.etag, now });
  }

  async readModel(trackingNumber: string): Promise<ReadModelRow | undefined> {
    const r = await this.x.one<{ doc_json: string; etag: string }>(getRead, [trackingNumber]);
    return r === undefined ? undefined : { docJson: r.doc_json, etag: r.etag };
  }

  async deleteReadModel(trackingNumber: string): Promise<void> {
    await this.x.run(deleteRead, [trackingNumber]);
  }

  async addFlags(trackingNumber: string, flags: readonly Flag[], now: number): Promise<void> {
    for (const f of flags) await this.x.run(addFlag, { hash: f.hash, tn: trackingNumber, from: f.from, to: f.to, eventTime: f.eventTime, reason: f.reason, now });
  }

  async replaceFlags(trackingNumber: string, flags: readonly Flag[], now: number): Promise<void> {
    await this.x.run(clearFlags, [trackingNumber]);
    await this.addFlags(trackingNumber, flags, now);
  }

  async flags(trackingNumber?: string): Promise<ReviewRow[]> {
    const rows = trackingNumber === undefined ? await this.x.all<ReviewDbRow>(allFlags) : await this.x.all<ReviewDbRow>(flagsOf, [trackingNumber]);
    return rows.map(review);
  }
}
