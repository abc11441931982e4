import { createHash } from 'node:crypto';
import { z } from 'zod';
import { RecentEntry, type TrackingProjection } from './core/tracking-fold.js';
import type { EtaWindow } from './eta-seam.js';
import { TrackingLocation, TrackingStatus } from './tracking-event.js';

// The document GET /track/{trackingNumber} serves, denormalised per tracking number and
// written whenever its projection changes, so a read is one point lookup and no join. A
// pure function of the projection and its ETA: the rebuild command recomputes it and any
// difference from the stored one is a finding. The ETag is a digest of the document.

export const TrackView = z.object({
  trackingNumber: z.string(),
  carrier: z.string(),
  status: TrackingStatus.nullable(),
  lastEventAt: z.number().int().nullable(),
  lastLocation: TrackingLocation.nullable(),
  lockerId: z.string().nullable(),
  carrierPromise: z.number().int().nullable(),
  eta: z.number().int().nullable(),
  etaEarliest: z.number().int().nullable(),
  etaLatest: z.number().int().nullable(),
  etaSource: z.enum(['carrier', 'estimate']).nullable(),
  /** Newest first; flagged entries were received but not applied (kept for review). */
  history: z.array(RecentEntry),
});
export type TrackView = z.infer<typeof TrackView>;

// Objects are rebuilt in one key order: a projection read back through its schema and one
// just folded hold the same values in different orders, and the ETag is over the JSON text.
function place(l: TrackingLocation | null | undefined): TrackingLocation | undefined {
  if (l === null || l === undefined) return undefined;
  const out: TrackingLocation = {};
  if (l.facility !== undefined) out.facility = l.facility;
  if (l.city !== undefined) out.city = l.city;
  if (l.country !== undefined) out.country = l.country;
  if (l.lat !== undefined) out.lat = l.lat;
  if (l.lng !== undefined) out.lng = l.lng;
  return out;
}

function entry(r: RecentEntry): RecentEntry {
  const out: RecentEntry = { status: r.status, carrierStatus: r.carrierStatus, eventTime: r.eventTime, flagged: r.flagged };
  if (r.carrierReason !== undefined) out.carrierReason = r.carrierReason;
  const l = place(r.location);
  if (l !== undefined) out.location = l;
  if (r.lockerId !== undefined) out.lockerId = r.lockerId;
  return out;
}

export function trackViewOf(p: TrackingProjection, eta: EtaWindow | undefined): TrackView {
  return {
    trackingNumber: p.trackingNumber,
    carrier: p.carrier,
    status: p.status,
    lastEventAt: p.lastEventTime,
    lastLocation: place(p.location) ?? null,
    lockerId: p.lockerId,
    carrierPromise: p.carrierPromise,
    eta: eta?.eta ?? null,
    etaEarliest: eta?.earliest ?? null,
    etaLatest: eta?.latest ?? null,
    etaSource: eta?.source ?? null,
    history: p.recent.map(entry),
  };
}

export function readModelRow(view: TrackView): { docJson: string; etag: string } {
  const docJson = JSON.stringify(view);
  return { docJson, etag: `"${createHash('sha256').update(docJson).digest('base64url').slice(0, 22)}"` };
}

/**
 * Whether the stored document's ETA has passed (`now` is later): an estimate is never in the
 * past when it is made, but the document is written only when a scan comes, so a parcel that
 * went quiet keeps an ETA that has gone by. The served document is then estimated again from
 * the projection (GET /track). Read without parsing: it is on every request.
 */
export function etaPassed(docJson: string, now: number): boolean {
  const m = /"eta":(\d+)/.exec(docJson);
  return m !== null && Number(m[1]) < now;
}
