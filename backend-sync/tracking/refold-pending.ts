import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import type { EtaFor } from './eta-seam.js';
import { rebuildNumber } from './rebuild-tracking.js';

// The start-up half of the capital-letters migration (SQLite step 25, PostgreSQL step 23):
// it merged small-letter timelines into their capital twins and dropped those numbers'
// projections, read models and review flags, listing the numbers in tracking_refold_pending.
// Until they are folded again GET /track finds nothing for them, so the backend folds them
// before it serves (main.ts), rather than leaving an operator a command to remember. The
// fold is the rebuild's (rebuild-tracking.ts): it tells no customer and moves no shipment
// (every step it replays was told when it first came), and the rebuild afterwards finds
// nothing to repair. Each number is taken off the list in the transaction that writes its
// rows, under its projection lock: an instance starting beside this one skips the numbers
// this one took, and a crash leaves the rest for the next start.

const PAGE = 500;
/** Numbers folded at once; under the PostgreSQL pool's default of 10 connections, leaving some for the rest of start-up. */
const CONCURRENCY = 6;

export interface RefoldPendingDeps {
  store: Store;
  clock: Clock;
  eta: EtaFor;
  logger: Pick<Logger, 'info' | 'error'>;
}

/** Folds every listed number again; how many were refolded and how many failed (left listed for the next start). */
export async function refoldPending(d: RefoldPendingDeps): Promise<{ refolded: number; failed: number }> {
  let refolded = 0;
  let failed = 0;
  for (let after: string | undefined; ; ) {
    let page: string[];
    try {
      page = await d.store.tracking.pendingRefolds(after, PAGE);
    } catch (err) {
      // main.ts awaits this before it serves: a list that cannot be read must not keep the
      // backend down (only the unfolded numbers lack a read model; the rebuild repairs them).
      d.logger.error({ refolded, failed, err: err instanceof Error ? err.message : String(err) }, 'tracking.refold_pending_aborted');
      return { refolded, failed };
    }
    if (page.length === 0) break;
    const refoldOne = async (tn: string): Promise<void> => {
      try {
        const found = await d.store.transaction(async () => {
          if (!(await d.store.tracking.takePendingRefold(tn))) return undefined;
          return rebuildNumber(d.store, d.clock, d.eta, tn, true);
        });
        if (found === undefined) return;
        refolded++;
        d.logger.info({ trackingNumber: tn, repaired: found.map((f) => f.what) }, 'tracking.refolded_after_upgrade');
      } catch (err) {
        // One unreadable history row must not keep the backend from serving every other number.
        failed++;
        d.logger.error({ trackingNumber: tn, err: err instanceof Error ? err.message : String(err) }, 'tracking.refold_failed');
      }
    };
    // Several numbers at once: each is a dozen round trips in its own transaction, and one at
    // a time 12,500 numbers kept a PostgreSQL instance from serving for 78 s. Numbers share no
    // rows, so their transactions do not wait on each other (SQLite runs them one after another).
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let tn = page[next++]; tn !== undefined; tn = page[next++]) await refoldOne(tn);
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    after = page[page.length - 1];
  }
  if (refolded > 0 || failed > 0) d.logger.info({ refolded, failed }, 'tracking.refold_pending_done');
  return { refolded, failed };
}
