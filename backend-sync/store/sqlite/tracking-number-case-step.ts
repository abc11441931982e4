import type Database from 'better-sqlite3';
import { capitalisedEventJson, capitalNumbers, planHistoryMerge, type CaseHistoryRow } from '../tracking-number-case.js';
import { CAPITALISE_SHIPMENTS, DROP_DERIVED, LOWER_HISTORY, LOWER_INBOX, MARK_AFFECTED, MERGE_POLL_SCHEDULE, type LowerHistoryDbRow, type LowerInboxDbRow } from '../tracking-number-case-sql.js';

// SQLite step 25: every tracking number in capitals (tracking-number-case.ts says why and
// how history merges). Runs inside the step's transaction (migrations.ts).
//
// History is append-only by trigger, and SQLite cannot disable a trigger: the two are
// dropped, the small-letter rows rewritten or dropped in place, and the triggers created again
// with the text of step 8, all in this one transaction, so no other connection ever sees the
// table unguarded (the step holds the write lock) and a crash leaves step 24 intact. Rewriting
// in place rather than copying the table into a new one: history is the largest table, and
// only the few rows stored in small letters change.

const HISTORY_TRIGGERS = `
  CREATE TRIGGER tracking_history_no_update BEFORE UPDATE ON tracking_history
    BEGIN SELECT RAISE(ABORT, 'tracking_history is append-only'); END;
  CREATE TRIGGER tracking_history_no_delete BEFORE DELETE ON tracking_history
    BEGIN SELECT RAISE(ABORT, 'tracking_history is append-only'); END;
`;

function mergeHistory(db: Database.Database): void {
  const rows: CaseHistoryRow[] = db
    .prepare<[], LowerHistoryDbRow>(LOWER_HISTORY)
    .all()
    .map((r) => ({ seq: r.seq, trackingNumber: r.tracking_number, upper: r.upper_number, hash: r.hash, eventJson: r.event_json }));
  if (rows.length === 0) return;
  const twinsOf = db.prepare<[string], { hash: string; event_json: string }>('SELECT hash, event_json FROM tracking_history WHERE tracking_number = ?');
  const twins = capitalNumbers(rows).flatMap((tn) => twinsOf.all(tn).map((r) => ({ hash: r.hash, eventJson: r.event_json })));
  const plan = planHistoryMerge(rows, twins);
  db.exec('DROP TRIGGER tracking_history_no_update; DROP TRIGGER tracking_history_no_delete;');
  // Drops first: a kept row's new hash never equals a dropped row's old one, but the order costs nothing.
  const drop = db.prepare<[string | number]>('DELETE FROM tracking_history WHERE seq = ?');
  for (const seq of plan.drop) drop.run(seq);
  const rewrite = db.prepare<[string, string, string, string | number]>('UPDATE tracking_history SET tracking_number = ?, hash = ?, event_json = ? WHERE seq = ?');
  for (const r of plan.rewrite) rewrite.run(r.trackingNumber, r.hash, r.eventJson, r.seq);
  db.exec(HISTORY_TRIGGERS);
}

function capitaliseInbox(db: Database.Database): void {
  const update = db.prepare<[string, string, string | number]>('UPDATE tracking_inbox SET tracking_number = ?, event_json = ? WHERE seq = ?');
  for (const r of db.prepare<[], LowerInboxDbRow>(LOWER_INBOX).all()) {
    update.run(r.upper_number, capitalisedEventJson(r.event_json, r.upper_number), r.seq);
  }
}

export function capitaliseTrackingNumbers(db: Database.Database): void {
  db.exec(MARK_AFFECTED);
  db.exec(CAPITALISE_SHIPMENTS);
  capitaliseInbox(db);
  mergeHistory(db);
  db.exec(MERGE_POLL_SCHEDULE);
  db.exec(DROP_DERIVED);
}
