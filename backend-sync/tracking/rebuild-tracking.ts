import { isDeepStrictEqual } from 'node:util';
import type { Clock } from '../shared/clock.js';
import { isCorruptRow } from '../store/sql/json-column.js';
import type { Store } from '../store/store.js';
import { foldHistory } from './core/tracking-fold.js';
import { etaFor, type EtaFor } from './eta-seam.js';
import { readModelRow, trackViewOf } from './read-model.js';
import { noHistoryFindings } from './rebuild-no-history.js';
import { foldEventOf } from './tracking-applier.js';
import type { StoredProjection } from './tracking-store.js';

// Rebuilds projections, read models and review flags from history (the only source of
// truth), one tracking number at a time under its projection lock, and reports every
// difference it found. With `write: false` it only reports. Used by
// backend-sync/scripts/rebuild-tracking.ts and by the tests that check the live projection
// equals the fold of its history.

export interface RebuildDifference {
  trackingNumber: string;
  what: 'projection' | 'read_model' | 'flags';
  stored: unknown;
  rebuilt: unknown;
}

export interface RebuildReport {
  numbers: number;
  /** Every difference, unless `onDifference` took them as they were found. */
  differences: RebuildDifference[];
}

export interface RebuildOptions {
  write: boolean;
  pageSize?: number;
  /**
   * Told each number's differences once its transaction committed (repaired, when
   * writing): a run that fails later has reported every repair it made, and the estate's
   * differences are never all held in memory.
   */
  onDifference?: (d: RebuildDifference) => void;
}

// The ETA in a read model was estimated at apply time, from the clock and the leg times
// learned by then: a rebuild later cannot reproduce it and must not call it a difference.
// Everything else in the document is a function of history and is compared.
const ETA_FIELDS = ['eta', 'etaEarliest', 'etaLatest', 'etaSource'];

/** A stored document as compared: without its ETA, or what is wrong with it (a row that is no JSON is a difference to repair, not a reason to stop). */
function withoutEta(docJson: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(docJson);
  } catch {
    return { corrupt: 'doc_json is not valid JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { corrupt: 'doc_json is not an object' };
  const fields = { ...(doc as Record<string, unknown>) };
  for (const k of ETA_FIELDS) delete fields[k];
  return fields;
}

const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** A stored projection as the rebuild sees it: read, or corrupt (reported and rewritten like any difference). */
type StoredRead = { ok: true; value: StoredProjection | undefined } | { ok: false; corrupt: string };

async function readStored(read: () => Promise<StoredProjection | undefined>): Promise<StoredRead> {
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    if (!isCorruptRow(err)) throw err;
    return { ok: false, corrupt: err.message };
  }
}

/** Review flags as compared: what the fold decides of each (the reason's wording may change between releases). */
const flagKeys = (flags: ReadonlyArray<{ hash: string; from: string | null; to: string; eventTime: number | string }>): string[] =>
  flags.map((f) => `${f.hash} ${f.from ?? '-'}→${f.to} @${String(Number(f.eventTime))}`).sort();

/** A number without history (checked under its lock): what its empty fold disagrees with, repaired when writing. */
async function repairWithoutHistory(store: Store, tn: string, stored: StoredRead, write: boolean, now: number): Promise<RebuildDifference[]> {
  const storedRead = await store.tracking.readModel(tn);
  const storedDoc = storedRead === undefined ? undefined : withoutEta(storedRead.docJson);
  const r = noHistoryFindings(tn, stored, storedDoc, flagKeys(await store.tracking.flags(tn)));
  if (write) {
    if (r.rebuiltProjection !== undefined) await store.tracking.saveProjection(r.rebuiltProjection, now);
    if (r.dropReadModel) await store.tracking.deleteReadModel(tn);
    if (r.dropFlags) await store.tracking.replaceFlags(tn, [], now);
  }
  return r.found.map((f) => ({ trackingNumber: tn, ...f }));
}

/**
 * One number's rebuild, inside the caller's transaction: its differences, repaired when
 * `write` (also the start-up refold's, tracking/refold-pending.ts).
 */
export async function rebuildNumber(store: Store, clock: Clock, eta: EtaFor, tn: string, write: boolean): Promise<RebuildDifference[]> {
  // The lock first, then the history: an applier on another instance committing between
  // the two would be folded out, and its state written back over with an older one.
  // A dry run locks a projection that exists (it writes nothing) for the same view.
  const existing = await readStored(() => store.tracking.projection(tn));
  const exists = !existing.ok || existing.value !== undefined;
  const hint = (existing.ok ? existing.value?.projection.carrier : undefined) ?? (await store.tracking.history(tn))[0]?.event.carrier ?? '';
  // A corrupt row is locked all the same: the statement ran before its text was read.
  const stored: StoredRead = write || exists ? await readStored(() => store.tracking.lockProjection(tn, hint, clock.now())) : { ok: true, value: undefined };
  const history = await store.tracking.history(tn);
  if (history.length === 0) return repairWithoutHistory(store, tn, stored, write, clock.now());
  const carrier = history[0]?.event.carrier ?? '';
  const { projection, flags } = foldHistory(tn, carrier, history.map(foldEventOf));
  const found: RebuildDifference[] = [];
  const storedProjection = stored.ok ? plain(stored.value?.projection) : { corrupt: stored.corrupt };
  const projectionDiffers = !isDeepStrictEqual(storedProjection, plain(projection));
  if (projectionDiffers) found.push({ trackingNumber: tn, what: 'projection', stored: storedProjection, rebuilt: projection });
  const read = readModelRow(trackViewOf(projection, await etaFor(eta, projection)));
  const storedRead = await store.tracking.readModel(tn);
  const storedDoc = storedRead === undefined ? undefined : withoutEta(storedRead.docJson);
  const readDiffers = storedDoc === undefined || !isDeepStrictEqual(storedDoc, withoutEta(read.docJson));
  if (readDiffers) found.push({ trackingNumber: tn, what: 'read_model', stored: storedDoc, rebuilt: JSON.parse(read.docJson) });
  const storedFlags = flagKeys(await store.tracking.flags(tn));
  const rebuiltFlags = flagKeys(flags);
  const flagsDiffer = !isDeepStrictEqual(storedFlags, rebuiltFlags);
  if (flagsDiffer) found.push({ trackingNumber: tn, what: 'flags', stored: storedFlags, rebuilt: rebuiltFlags });
  if (write) {
    // Only what differs: review rows that agree keep when they were flagged.
    const now = clock.now();
    if (projectionDiffers) await store.tracking.saveProjection(projection, now);
    if (readDiffers) await store.tracking.putReadModel(tn, read, now);
    if (flagsDiffer) await store.tracking.replaceFlags(tn, flags, now);
  }
  return found;
}

export async function rebuildTracking(store: Store, clock: Clock, eta: EtaFor, o: RebuildOptions): Promise<RebuildReport> {
  const differences: RebuildDifference[] = [];
  let numbers = 0;
  for (let after: string | undefined; ; ) {
    // Every number with any row, not only those with history: a derived row no history
    // backs is a difference too (rebuild-no-history.ts).
    const page = await store.tracking.trackedNumbers(after, o.pageSize ?? 500);
    for (const tn of page) {
      numbers++;
      // Collected per committed transaction: a retried one must not report twice.
      const found = await store.transaction(() => rebuildNumber(store, clock, eta, tn, o.write));
      if (o.onDifference !== undefined) for (const d of found) o.onDifference(d);
      else differences.push(...found);
    }
    if (page.length === 0) break;
    after = page[page.length - 1];
  }
  return { numbers, differences };
}
