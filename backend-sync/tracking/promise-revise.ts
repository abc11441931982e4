import type { TrackingRepository } from './tracking-store.js';
import { hashOfOrderKey, normalisedHash } from './core/event-identity.js';
import type { CanonicalTrackingEvent } from './tracking-event.js';

// A revised promise that comes with no scan (AfterShip edd_revise) takes the path a promise
// resent on a scan already held takes (tracking-applier.ts, revisionFor): it becomes a copy
// of the scan the number's state rests on, carrying the new promise. The applier sees a
// duplicate of that scan, appends the promise as a revision of it to history (keyed after
// the scan, core/event-identity.ts promiseRevisionHash) and folds it, so the ETA moves and a
// rebuild from history agrees. Nothing new enters the fold: a copy of a scan adds no scan.
//
// The scan is read here, before the applier locks the number: a scan applied in between
// (a tracking_update that overtook this one) leaves the copy a duplicate of an older scan,
// and a copy of an old scan revises nothing (revisionFor); that update carried the courier's
// current promise itself.

export type PromiseAnchor =
  | { ok: true; event: CanonicalTrackingEvent }
  /** Nothing to revise: logged with the reason and counted (promise_unanchored), the webhook acknowledged. */
  | { ok: false; reason: 'no_scan' | 'scan_not_in_history' | 'legacy_hash' };

/**
 * The scan `trackingNumber`'s state rests on, with `estimatedDeliveryAt` as its promise.
 * A number with no scan yet has no promise to revise: the revision would have no scan to
 * sort after, so a rebuild could not place it; the first tracking_update brings the
 * courier's promise on its newest checkpoint anyway.
 */
export async function promiseOnLastScan(tracking: Pick<TrackingRepository, 'projection' | 'historyEntry'>, trackingNumber: string, estimatedDeliveryAt: number): Promise<PromiseAnchor> {
  const stored = await tracking.projection(trackingNumber);
  const key = stored?.projection.lastAppliedKey ?? null;
  if (key === null) return { ok: false, reason: 'no_scan' };
  const scanHash = hashOfOrderKey(key);
  // By its hash: a webhook costs one lookup, however long the number's history has grown.
  const scan = await tracking.historyEntry(trackingNumber, scanHash);
  if (scan === undefined) return { ok: false, reason: 'scan_not_in_history' };
  const event: CanonicalTrackingEvent = { ...scan.event, estimatedDeliveryAt };
  // A scan hashed before the promise left the hash would not know its copy: the copy would
  // enter history as a scan of its own. Such a number waits for its next tracking_update.
  if (normalisedHash(event) !== scanHash) return { ok: false, reason: 'legacy_hash' };
  return { ok: true, event };
}
