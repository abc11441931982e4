import type { EtaFor } from './eta-seam.js';
import type { TrackingApplier } from './tracking-applier.js';
import type { TrackingIntake } from './tracking-event.js';
import type { TrackingMetrics } from './tracking-metrics.js';
import type { TrackingPoller } from './polling/tracking-poller.js';

// The tracking parts the rest of the backend holds (built in backend-services.ts).

export interface TrackingServices {
  intake: TrackingIntake;
  applier: TrackingApplier;
  metrics: TrackingMetrics;
  /** The ETA the applier writes into the read model; GET /track asks it again when that one has passed. */
  eta: EtaFor;
  /**
   * Folds the numbers a migration left without projections (refold-pending.ts); run at
   * start, before the API serves, by main.ts (and the test fixture, which plays it).
   */
  refoldPending: () => Promise<{ refolded: number; failed: number }>;
  /** Present when trackingPolling is enabled with at least one carrier. */
  poller?: TrackingPoller | undefined;
}

/**
 * How long dedupe keys are kept. Providers retry for days after an incident; past this a
 * replay is still kept out of history by its normalised hash (history is unique on it), so
 * only the carrier-event-id and composite levels are forgotten.
 */
export const TRACKING_DEDUPE_RETENTION_MS = 30 * 24 * 3_600_000;
