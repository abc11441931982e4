import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../store/store.js';
import type { TrackingProjection } from '../core/tracking-fold.js';
import type { EtaFor } from '../eta-seam.js';
import type { TrackingChange } from '../tracking-applier.js';
import { defaultEtaConfig, estimateEta, type EtaConfig } from './eta-estimator.js';
import { emptyLegStats, learnLeg, type LegStats } from './leg-stats.js';
import type { LegStatsCache } from './leg-stats-store.js';

// The running backend's ETA: estimateEta over the cached learned legs, and the learning
// that feeds them. The carrier's promise leads (the read model says 'carrier' when it is all
// there is); learned legs refine it or stand in for it ('estimate'); exception widens it.

/** The EtaFor the applier and the rebuild use: no database read per number (the cache). */
export function learnedEta(cache: LegStatsCache, clock: Clock, cfg: EtaConfig = defaultEtaConfig): EtaFor {
  return async (p) => {
    if (p.status === null || p.lastEventTime === null) return undefined;
    const e = estimateEta({ status: p.status, carrier: p.carrier, promisedAt: p.carrierPromise ?? undefined, lastEventAt: p.lastEventTime, now: clock.now(), stats: await cache.current() }, cfg);
    if (e === null) return undefined;
    return { eta: e.eta, earliest: e.earliest, latest: e.latest, source: e.basis === 'carrier_promise' ? 'carrier' : 'estimate' };
  };
}

const ARRIVED = ['delivered', 'available_for_pickup'] as const;
const hasArrived = (p: TrackingProjection): boolean => ARRIVED.some((s) => p.reached.includes(s));

/**
 * Learns each shipment's legs once, when it first arrives (delivered or deposited in a
 * locker): every earlier applied scan's time to arrival, from its history (learnLeg leaves
 * out the scans the fold flagged). Runs inside the applying
 * transaction, so a batch that rolls back teaches nothing and a number arrives only once.
 */
export class LegLearner {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly cache: LegStatsCache,
    private readonly clock: Clock,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'leg-learner' });
  }

  async changed(changes: ReadonlyArray<TrackingChange>): Promise<void> {
    // A recycled number's new parcel arrives for the first time even though the old one had.
    const arrived = changes.filter((c) => (c.newParcel || !hasArrived(c.before)) && c.after.cycle >= c.before.cycle && hasArrived(c.after)).map((c) => c.after);
    if (arrived.length === 0) return;
    const timelines = await this.store.tracking.timelines(arrived.map((p) => p.trackingNumber));
    let delta: LegStats = emptyLegStats;
    let shipments = 0;
    for (const p of arrived) {
      // A recycled number's earlier parcels are not this one's legs.
      const since = p.cycleStart ?? Number.NEGATIVE_INFINITY;
      const events = (timelines.get(p.trackingNumber) ?? []).filter((e) => e.eventTime >= since);
      const next = learnLeg(delta, { carrier: p.carrier, events });
      if (next !== delta) shipments++;
      delta = next;
    }
    if (shipments === 0) return;
    await this.store.legStats.merge(delta, this.clock.now());
    // Counted in the snapshot before the commit: if the batch rolls back and is retried number
    // by number, these shipments are learned again and the snapshot holds them twice until
    // its next reload (a minute at most); the table, which the reload reads, holds them once.
    this.cache.learned(delta);
    this.log.debug({ shipments }, 'tracking.legs_learned');
  }
}
