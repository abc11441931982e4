import { isDeepStrictEqual } from 'node:util';
import { emptyProjection } from './core/tracking-fold.js';
import type { StoredProjection } from './tracking-store.js';

// The rebuild's answer for a number with no history. Its fold is the empty projection, no
// read model and no review flags: the applier writes read models and flags only for numbers
// whose events entered history, while a shipment recorded before any scan creates the empty
// projection row (it locks its number). So an empty projection row stays (under whatever
// carrier it names: the merchant's spelling until the first scan), and anything else of such
// a number is a stray row (copied by hand, left by a bug) that GET /track would serve:
// reported, and removed or emptied when writing.

/** What the rebuild compares for a number without history; `differs` says what it must repair. */
export interface NoHistoryFindings {
  found: Array<{ what: 'projection' | 'read_model' | 'flags'; stored: unknown; rebuilt: unknown }>;
  rebuiltProjection: ReturnType<typeof emptyProjection> | undefined;
  dropReadModel: boolean;
  dropFlags: boolean;
}

/**
 * `stored` is the locked projection row (absent when a dry run found none, corrupt when it no
 * longer parses); `storedDoc` the stored read model as compared (undefined when none).
 */
export function noHistoryFindings(
  tn: string,
  stored: { ok: true; value: StoredProjection | undefined } | { ok: false; corrupt: string },
  storedDoc: unknown,
  storedFlags: string[],
): NoHistoryFindings {
  const out: NoHistoryFindings = { found: [], rebuiltProjection: undefined, dropReadModel: false, dropFlags: false };
  if (!stored.ok || stored.value !== undefined) {
    // No history to take the carrier from: the row's stays (a corrupt row's is unknown; the
    // applier takes the first scan's carrier for a projection with no events anyway).
    const carrier = stored.ok ? (stored.value?.projection.carrier ?? '') : '';
    const rebuilt = emptyProjection(tn, carrier);
    const storedProjection = stored.ok ? plain(stored.value?.projection) : { corrupt: stored.corrupt };
    if (!isDeepStrictEqual(storedProjection, plain(rebuilt))) {
      out.found.push({ what: 'projection', stored: storedProjection, rebuilt });
      out.rebuiltProjection = rebuilt;
    }
  }
  if (storedDoc !== undefined) {
    out.found.push({ what: 'read_model', stored: storedDoc, rebuilt: undefined });
    out.dropReadModel = true;
  }
  if (storedFlags.length > 0) {
    out.found.push({ what: 'flags', stored: storedFlags, rebuilt: [] });
    out.dropFlags = true;
  }
  return out;
}

const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

