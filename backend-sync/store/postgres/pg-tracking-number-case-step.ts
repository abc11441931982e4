import type pg from 'pg';
import { capitalisedEventJson, capitalNumbers, planHistoryMerge, type CaseHistoryRow } from '../tracking-number-case.js';
import { CAPITALISE_SHIPMENTS, DROP_DERIVED, LOWER_HISTORY, LOWER_INBOX, MARK_AFFECTED, MERGE_POLL_SCHEDULE, type LowerHistoryDbRow, type LowerInboxDbRow } from '../tracking-number-case-sql.js';

// PostgreSQL step 23: every tracking number in capitals (tracking-number-case.ts says why and
// how history merges). Runs inside the step's transaction (pg-migrations.ts).
//
// History is append-only by trigger: the row trigger is disabled for the rewrite and enabled
// again before the step commits. ALTER TABLE takes the table's ACCESS EXCLUSIVE lock until
// commit, so no other session writes history while the guard is off, and a failure rolls the
// DISABLE back with everything else. Rewriting in place rather than copying the table into
// a new one: history is the largest table, and only the few rows stored in small letters change.

/** Rows per UPDATE: one round trip each, parameters well under the protocol's limits. */
const BATCH = 2_000;

async function mergeHistory(client: pg.ClientBase): Promise<void> {
  const rows: CaseHistoryRow[] = (await client.query<LowerHistoryDbRow>(LOWER_HISTORY)).rows.map((r) => ({
    seq: r.seq,
    trackingNumber: r.tracking_number,
    upper: r.upper_number,
    hash: r.hash,
    eventJson: r.event_json,
  }));
  if (rows.length === 0) return;
  const twins = (await client.query<{ hash: string; event_json: string }>('SELECT hash, event_json FROM tracking_history WHERE tracking_number = ANY($1)', [capitalNumbers(rows)])).rows.map((r) => ({
    hash: r.hash,
    eventJson: r.event_json,
  }));
  const plan = planHistoryMerge(rows, twins);
  await client.query('ALTER TABLE tracking_history DISABLE TRIGGER tracking_history_no_change');
  if (plan.drop.length > 0) await client.query('DELETE FROM tracking_history WHERE seq = ANY($1::bigint[])', [plan.drop.map(String)]);
  // In batches, not a statement per row: a round trip each made 50,000 small-letter rows
  // take 12 s with history locked against every instance; batched, 2 s (200,000 rows in all).
  for (let i = 0; i < plan.rewrite.length; i += BATCH) {
    const part = plan.rewrite.slice(i, i + BATCH);
    await client.query(
      `UPDATE tracking_history h SET tracking_number = u.tn, hash = u.hash, event_json = u.ej
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(seq, tn, hash, ej) WHERE h.seq = u.seq`,
      [part.map((r) => String(r.seq)), part.map((r) => r.trackingNumber), part.map((r) => r.hash), part.map((r) => r.eventJson)],
    );
  }
  await client.query('ALTER TABLE tracking_history ENABLE TRIGGER tracking_history_no_change');
}

async function capitaliseInbox(client: pg.ClientBase): Promise<void> {
  const rows = (await client.query<LowerInboxDbRow>(LOWER_INBOX)).rows;
  for (let i = 0; i < rows.length; i += BATCH) {
    const part = rows.slice(i, i + BATCH);
    await client.query(
      `UPDATE tracking_inbox b SET tracking_number = u.tn, event_json = u.ej
         FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(seq, tn, ej) WHERE b.seq = u.seq`,
      [part.map((r) => String(r.seq)), part.map((r) => r.upper_number), part.map((r) => capitalisedEventJson(r.event_json, r.upper_number))],
    );
  }
}

/**
 * Every table the step rewrites, locked before it reads any of them. Under READ COMMITTED
 * the step's reads see only what was committed when each ran: a write of an earlier
 * release's instance still in flight then (a forgotten old instance during the upgrade)
 * committed after them and kept its small letters for good, the step never running again.
 * Taken first, the locks wait for those writes, and each read sees them. History's is the
 * ACCESS EXCLUSIVE lock its DISABLE TRIGGER takes anyway, taken here so no lock is ever
 * raised mid-step (raising EXCLUSIVE to it could deadlock with a reader); the others block
 * writes only, so reads elsewhere go on while the step runs.
 */
const LOCK_TABLES = `
  LOCK TABLE tracking_history IN ACCESS EXCLUSIVE MODE;
  LOCK TABLE shipments, tracking_inbox, tracking_state, tracking_read, tracking_review, tracking_poll_schedule IN EXCLUSIVE MODE;
`;

export async function capitaliseTrackingNumbers(client: pg.ClientBase): Promise<void> {
  await client.query(LOCK_TABLES);
  await client.query(MARK_AFFECTED);
  await client.query(CAPITALISE_SHIPMENTS);
  await capitaliseInbox(client);
  await mergeHistory(client);
  await client.query(MERGE_POLL_SCHEDULE);
  await client.query(DROP_DERIVED);
}
