import { isDeepStrictEqual } from 'node:util';
import type { Clock } from '../shared/clock.js';
import type { Store } from '../store/store.js';
import { foldHistory } from './core/tracking-fold.js';
import { etaFor, type EtaFor } from './eta-seam.js';
import { readModelRow, trackViewOf } from './read-model.js';
import { foldEventOf } from './tracking-applier.js';

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
  differences: RebuildDifference[];
}

// The ETA in a read model was estimated at apply time, from the clock and the leg times
// learned by then: a rebuild later cannot reproduce it and must not call it a difference.
// Everything else in the document is a function of history and is compared.
const ETA_FIELDS = ['eta', 'etaEarliest', 'etaLatest', 'etaSource'];
function withoutEta(docJson: string): unknown {
  const doc = JSON.parse(docJson) as Record<string, unknown>;
  for (const k of ETA_FIELDS) delete doc[k];
  return doc;
}

const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

export async function rebuildTracking(store: Store, clock: Clock, eta: EtaFor, o: { write: boolean; pageSize?: number }): Promise<RebuildReport> {
  const differences: RebuildDifference[] = [];
  let numbers = 0;
  for (let after: string | undefined; ; ) {
    const page = await store.tracking.historyNumbers(after, o.pageSize ?? 500);
    for (const tn of page) {
      numbers++;
      // Collected per committed transaction: a retried one must not report twice.
      const found = await store.transaction(async () => {
        // The lock first, then the history: an applier on another instance committing between
        // the two would be folded out, and its state written back over with an older one.
        // A dry run locks a projection that exists (it writes nothing) for the same view.
        const existing = await store.tracking.projection(tn);
        const hint = existing?.projection.carrier ?? (await store.tracking.history(tn))[0]?.event.carrier ?? '';
        const stored = o.write || existing !== undefined ? await store.tracking.lockProjection(tn, hint, clock.now()) : undefined;
        const history = await store.tracking.history(tn);
        const carrier = history[0]?.event.carrier ?? '';
        const { projection, flags } = foldHistory(tn, carrier, history.map(foldEventOf));
        const found: RebuildDifference[] = [];
        if (!isDeepStrictEqual(plain(stored?.projection), plain(projection))) found.push({ trackingNumber: tn, what: 'projection', stored: stored?.projection, rebuilt: projection });
        const read = readModelRow(trackViewOf(projection, await etaFor(eta, projection)));
        const storedRead = await store.tracking.readModel(tn);
        if (storedRead === undefined || !isDeepStrictEqual(withoutEta(storedRead.docJson), withoutEta(read.docJson))) {
          found.push({ trackingNumber: tn, what: 'read_model', stored: storedRead === undefined ? undefined : JSON.parse(storedRead.docJson), rebuilt: JSON.parse(read.docJson) });
        }
        const storedFlags = (await store.tracking.flags(tn)).map((f) => f.hash).sort();
        const rebuiltFlags = flags.map((f) => f.hash).sort();
        if (!isDeepStrictEqual(storedFlags, rebuiltFlags)) found.push({ trackingNumber: tn, what: 'flags', stored: storedFlags, rebuilt: rebuiltFlags });
        if (o.write && found.length > 0) {
          const now = clock.now();
          await store.tracking.saveProjection(projection, now);
          await store.tracking.putReadModel(tn, read, now);
          await store.tracking.replaceFlags(tn, flags, now);
        }
        return found;
      });
      differences.push(...found);
    }
    if (page.length === 0) break;
    after = page[page.length - 1];
  }
  return { numbers, differences };
}
