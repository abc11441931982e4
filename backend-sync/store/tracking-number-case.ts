import { isPromiseRevision, normalisedHash, revisedScanHash } from '../tracking/core/event-identity.js';
import { CanonicalTrackingEvent } from '../tracking/tracking-event.js';

// The history half of the migration that stores every tracking number in capitals (SQLite
// step 25, PostgreSQL step 23; docs/backend.md, "Tracking"). Earlier releases stored a
// number as typed, so one parcel could have a timeline under `1z…` and one under `1Z…`.
// Both engines read the small-letter history rows, ask this planner, and carry out its plan
// with their own SQL. Pure.
//
// The normalised hash covers the number (core/event-identity.ts), so a small-letter row's
// hash is not the hash today's applier computes for the same scan: kept, a resend of that
// scan past the composite window would enter history a second time. Each row is hashed again
// as the capital-letter event; a row whose new hash its capital twin (or an earlier row of
// another spelling) already holds is the same scan twice and is dropped, not merged in twice.
// A carrier's promise revision is named after the scan it revises (`<scan hash>~p…`), so it
// is renamed after that scan's new hash.

export type RowKey = string | number;

export interface CaseHistoryRow {
  seq: RowKey;
  trackingNumber: string;
  /** The number in capitals as the engine's upper() spells it (the step's SQL does the same to every other table). */
  upper: string;
  hash: string;
  eventJson: string;
}

export interface HistoryMergePlan {
  /** Rows kept, with their number in capitals, their new hash and event text. */
  rewrite: CaseHistoryRow[];
  /** Rows that are a scan history already holds under the capital spelling. */
  drop: RowKey[];
}

/** The event text with its number in capitals, and the hash today's applier gives it (undefined when the text no longer reads as an event). */
function recapitalised(row: CaseHistoryRow, upper: string): { eventJson: string; hash: string | undefined } {
  let raw: unknown;
  try {
    raw = JSON.parse(row.eventJson);
  } catch {
    // Unreadable text stays as stored (the planner leaves such history rows where they are).
    return { eventJson: row.eventJson, hash: undefined };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { eventJson: row.eventJson, hash: undefined };
  // The raw object, not the parsed one: fields this release does not know are kept.
  const fixed = { ...(raw as Record<string, unknown>), trackingNumber: upper };
  const parsed = CanonicalTrackingEvent.safeParse(fixed);
  return { eventJson: JSON.stringify(fixed), hash: parsed.success ? normalisedHash(parsed.data) : undefined };
}

/** A history row already stored under a capital spelling: its hash as stored, and its event text. */
export interface CapitalTwinRow {
  hash: string;
  eventJson: string;
}

/** Today's hash of a stored event (undefined when the text no longer reads as an event). */
function todaysHash(eventJson: string): string | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(eventJson);
  } catch {
    return undefined;
  }
  const parsed = CanonicalTrackingEvent.safeParse(raw);
  return parsed.success ? normalisedHash(parsed.data) : undefined;
}

/**
 * `rows`: every history row whose number is not in capitals, oldest first; `twins`: the
 * rows already stored under the capital spellings of those numbers.
 */
export function planHistoryMerge(rows: readonly CaseHistoryRow[], twins: readonly CapitalTwinRow[]): HistoryMergePlan {
  const held = new Set(twins.map((t) => t.hash));
  // A capital row kept the hash it was stored with, and rows stored before the hash left
  // out the carrier's promise (core/event-identity.ts) hold one today's applier no longer
  // computes: matched only on stored hashes, the small-letter copy of such a scan, rehashed
  // today, would enter the merged timeline a second time. Today's hash of each capital scan
  // names the row that holds it, so its copies are dropped and their revisions renamed after it.
  const twinOf = new Map<string, string>();
  for (const t of twins) {
    if (isPromiseRevision(t.hash)) continue;
    const today = todaysHash(t.eventJson);
    if (today !== undefined && !twinOf.has(today)) twinOf.set(today, t.hash);
  }
  const renamed = new Map<string, string>();
  const plan: HistoryMergePlan = { rewrite: [], drop: [] };
  const place = (row: CaseHistoryRow, hash: string, eventJson: string, upper: string): void => {
    if (held.has(hash)) {
      plan.drop.push(row.seq);
      return;
    }
    held.add(hash);
    plan.rewrite.push({ seq: row.seq, trackingNumber: upper, upper, hash, eventJson });
  };
  // Scans first: a revision needs the new hash of the scan it revises.
  for (const row of rows.filter((r) => !isPromiseRevision(r.hash))) {
    const upper = row.upper;
    const r = recapitalised(row, upper);
    // Text today's schema refuses stays as stored, under its own spelling: moved into the
    // capital timeline it made that number's fold fail, and GET /track, which served the
    // capitals before the upgrade, answered 404 after it. The row is kept for an operator.
    if (r.hash === undefined) continue;
    const today = r.hash;
    const twin = twinOf.get(today);
    if (twin !== undefined) {
      // The capital row holds this scan under its stored hash: the copy goes, and a revision of it names that row.
      renamed.set(row.hash, twin);
      plan.drop.push(row.seq);
      continue;
    }
    renamed.set(row.hash, today);
    place(row, today, r.eventJson, upper);
  }
  for (const row of rows.filter((r) => isPromiseRevision(r.hash))) {
    const upper = row.upper;
    const r = recapitalised(row, upper);
    if (r.hash === undefined) continue; // as for scans above
    const scan = revisedScanHash(row.hash);
    // The revised scan was rehashed above; a revision of a scan stored under the capitals already keeps its name.
    const scanHash = renamed.get(scan) ?? scan;
    place(row, `${scanHash}${row.hash.slice(scan.length)}`, r.eventJson, upper);
  }
  return plan;
}

/**
 * A waiting inbox row's event text with its number in capitals: the applier copies the text
 * it claimed into history as is. Text that does not read stays (the applier dead-letters it as stored).
 */
export function capitalisedEventJson(eventJson: string, upper: string): string {
  return recapitalised({ seq: 0, trackingNumber: upper, upper, hash: '', eventJson }, upper).eventJson;
}

/** The capital spellings of the rows' numbers (whose stored rows are the planner's `twins`). */
export function capitalNumbers(rows: readonly CaseHistoryRow[]): string[] {
  return [...new Set(rows.map((r) => r.upper))].sort();
}
