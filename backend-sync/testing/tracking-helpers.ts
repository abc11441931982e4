import { ManualClock } from '../shared/clock.js';
import { silentLogger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { carrierPromiseEta } from '../tracking/eta-seam.js';
import { TrackingApplier, type MilestoneSink } from '../tracking/tracking-applier.js';
import type { CanonicalTrackingEvent, TrackingSource, TrackingStatus } from '../tracking/tracking-event.js';
import { StoreTrackingIntake } from '../tracking/tracking-intake.js';
import { TrackingMetrics } from '../tracking/tracking-metrics.js';

// The tracking core on a store, for tests and benches: intake, applier, metrics, a manual clock.

export const T = Date.parse('2026-11-22T10:00:00Z');
export const MIN = 60_000;

export interface TrackingRig {
  clock: ManualClock;
  metrics: TrackingMetrics;
  intake: StoreTrackingIntake;
  applier: TrackingApplier;
  /** Accepts one payload of events from `source` and resolves to its receipt. */
  send(events: readonly CanonicalTrackingEvent[], source?: TrackingSource): Promise<unknown>;
}

export function trackingRig(store: Store, o: { milestones?: MilestoneSink; batchSize?: number; clock?: ManualClock } = {}): TrackingRig {
  const clock = o.clock ?? new ManualClock(T + 100 * 24 * 3_600_000);
  const metrics = new TrackingMetrics();
  const intake = new StoreTrackingIntake(store, silentLogger());
  const applier = new TrackingApplier({ store, clock, logger: silentLogger(), metrics, eta: carrierPromiseEta, milestones: o.milestones, ...(o.batchSize === undefined ? {} : { batchSize: o.batchSize }) });
  return {
    clock,
    metrics,
    intake,
    applier,
    send: (events, source = 'canonical') => intake.accept({ source, body: JSON.stringify({ events }), receivedAt: clock.now() }, events),
  };
}

export function scan(trackingNumber: string, status: TrackingStatus, at: number, over: Partial<CanonicalTrackingEvent> = {}): CanonicalTrackingEvent {
  return { trackingNumber, carrier: 'ups', status, carrierStatus: status.toUpperCase(), eventTime: at, ...over };
}
