import type { TrackingProjection } from './core/tracking-fold.js';

// Where the ETA comes from. Today: the carrier's promise, as the last applied scan carried
// it. The ETA estimator (tracking/eta/eta-estimator.ts, refining the promise with learned
// leg times and widening it in exception) plugs in here as another EtaFor, chosen in
// backend-services.ts; the read model calls it on every applied change.

export interface EtaWindow {
  eta: number;
  earliest: number;
  latest: number;
  source: 'carrier' | 'estimate';
}

export type EtaFor = (p: TrackingProjection) => EtaWindow | undefined | Promise<EtaWindow | undefined>;

const arrived = new Set(['delivered', 'available_for_pickup', 'collected', 'returned_to_sender']);

/** The carrier's promise as a point window; none once the parcel has arrived. */
export const carrierPromiseEta: EtaFor = (p) => {
  if (p.carrierPromise === null || (p.status !== null && arrived.has(p.status))) return undefined;
  return { eta: p.carrierPromise, earliest: p.carrierPromise, latest: p.carrierPromise, source: 'carrier' };
};

/** The seam: the ETA of a projection under the configured estimator. */
export async function etaFor(estimator: EtaFor, p: TrackingProjection): Promise<EtaWindow | undefined> {
  return estimator(p);
}
