// The set-based half of the capital-letters migration (SQLite step 25, PostgreSQL step 23),
// one text for both engines; the history half is planned in tracking-number-case.ts. Runs
// inside the step's transaction, in this order.

/** Every number stored in small letters anywhere, by its capital spelling: these are refolded at start (tracking/refold-pending.ts). */
export const MARK_AFFECTED = `
  CREATE TABLE tracking_refold_pending (tracking_number TEXT PRIMARY KEY);
  INSERT INTO tracking_refold_pending (tracking_number)
    SELECT upper(tracking_number) FROM shipments WHERE tracking_number <> upper(tracking_number)
    UNION SELECT upper(tracking_number) FROM tracking_inbox WHERE tracking_number <> upper(tracking_number)
    UNION SELECT upper(tracking_number) FROM tracking_history WHERE tracking_number <> upper(tracking_number)
    UNION SELECT upper(tracking_number) FROM tracking_state WHERE tracking_number <> upper(tracking_number)
    UNION SELECT upper(tracking_number) FROM tracking_read WHERE tracking_number <> upper(tracking_number)
    UNION SELECT upper(tracking_number) FROM tracking_review WHERE tracking_number <> upper(tracking_number)
    UNION SELECT upper(tracking_number) FROM tracking_poll_schedule WHERE tracking_number <> upper(tracking_number);
`;

/** Shipments only change their number: no key is on it. */
export const CAPITALISE_SHIPMENTS = `UPDATE shipments SET tracking_number = upper(tracking_number) WHERE tracking_number <> upper(tracking_number)`;

/**
 * The waiting inbox rows in small letters (their event text is rewritten too: the applier
 * copies it into history). The capitals are the engine's upper(), as every other table's
 * are in this step: JavaScript's differ outside ASCII (`ß` → `SS`), which would part a
 * number's history from its shipment, poll entry and refold listing.
 */
export const LOWER_INBOX = `SELECT seq, upper(tracking_number) AS upper_number, event_json FROM tracking_inbox WHERE tracking_number <> upper(tracking_number)`;

export interface LowerInboxDbRow {
  seq: string | number;
  upper_number: string;
  event_json: string;
}

/**
 * One poll entry per number (its primary key): the entry that heard news last gives the
 * status, ETA, mode, carrier and failures; the earliest planned poll wins (a stopped entry,
 * NULL, loses to a due one: one request finds out whether the number still moves); the
 * newest event and webhook, and the first noting, over all spellings. No lease survives:
 * the instances that held one ran the release before this migration.
 */
export const MERGE_POLL_SCHEDULE = `
  CREATE TEMP TABLE tracking_poll_merged AS
    SELECT tn, carrier, status, eta_at, mode, failures, last_event_at, last_webhook_at, created_at, next_poll_at FROM (
      SELECT upper(p.tracking_number) AS tn, p.carrier, p.status, p.eta_at, p.mode, p.failures,
             max(p.last_event_at) OVER w AS last_event_at, max(p.last_webhook_at) OVER w AS last_webhook_at,
             min(p.created_at) OVER w AS created_at, min(p.next_poll_at) OVER w AS next_poll_at,
             row_number() OVER (PARTITION BY upper(p.tracking_number)
               ORDER BY p.last_event_at DESC NULLS LAST, CASE WHEN p.tracking_number = upper(p.tracking_number) THEN 0 ELSE 1 END, p.tracking_number) AS rn
        FROM tracking_poll_schedule p
       WHERE upper(p.tracking_number) IN (SELECT tracking_number FROM tracking_refold_pending)
      WINDOW w AS (PARTITION BY upper(p.tracking_number))
    ) ranked WHERE rn = 1;
  DELETE FROM tracking_poll_schedule WHERE upper(tracking_number) IN (SELECT tn FROM tracking_poll_merged);
  INSERT INTO tracking_poll_schedule (tracking_number, carrier, status, eta_at, last_event_at, last_webhook_at, created_at, mode, next_poll_at, failures, lease_until)
    SELECT tn, carrier, status, eta_at, last_event_at, last_webhook_at, created_at, mode, next_poll_at, failures, NULL FROM tracking_poll_merged;
  DROP TABLE tracking_poll_merged;
`;

/**
 * The derived rows of every affected number, both spellings: the fold of the merged history
 * replaces them at start (a projection folded from half a timeline is wrong, and its review
 * flags name hashes that were renamed).
 */
export const DROP_DERIVED = ['tracking_state', 'tracking_read', 'tracking_review']
  .map((t) => `DELETE FROM ${t} WHERE upper(tracking_number) IN (SELECT tracking_number FROM tracking_refold_pending);`)
  .join('\n');

/** The small-letter history rows, oldest first (the planner's input), with the engine's capitals (LOWER_INBOX says why). */
export const LOWER_HISTORY = `SELECT seq, tracking_number, upper(tracking_number) AS upper_number, hash, event_json FROM tracking_history WHERE tracking_number <> upper(tracking_number) ORDER BY seq`;

export interface LowerHistoryDbRow {
  seq: string | number;
  tracking_number: string;
  upper_number: string;
  hash: string;
  event_json: string;
}
