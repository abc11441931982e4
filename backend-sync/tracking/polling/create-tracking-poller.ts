import type { BackendConfig } from '../../config/config.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { TrackingIntake } from '../tracking-event.js';
import { JsonRestCarrierClient } from './json-rest-carrier-client.js';
import type { CarrierBudgetPort } from './carrier-budget-port.js';
import type { PollSchedulePort } from './poll-schedule-port.js';
import { TrackingPoller } from './tracking-poller.js';

// Builds the poller from config (trackingPolling), for the composition root: undefined when
// polling is off or no carrier is configured. Nothing starts here; the caller either adds
// poller.task() to the backend's Sweeper or calls start()/stop() itself.

export interface TrackingPollerParts {
  config: BackendConfig['trackingPolling'];
  schedule: PollSchedulePort;
  /** Shared by the instances on one database (store.carrierBudgets). */
  budgets: CarrierBudgetPort;
  intake: TrackingIntake;
  clock: Clock;
  logger: Logger;
  random?: () => number;
}

export function createTrackingPoller(p: TrackingPollerParts): TrackingPoller | undefined {
  const { config } = p;
  if (!config.enabled || config.carriers.length === 0) return undefined;
  const clients = config.carriers.map(
    (c) =>
      new JsonRestCarrierClient({
        carrier: c.carrier,
        baseUrl: c.baseUrl,
        rateLimit: { requestsPerSecond: c.requestsPerSecond, burst: c.burst },
        maxBatch: c.maxBatch,
        ...(c.maxResponseBytes === undefined ? {} : { maxResponseBytes: c.maxResponseBytes }),
        timeoutMs: config.requestTimeoutMs,
        clock: p.clock,
      }),
  );
  return new TrackingPoller({
    schedule: p.schedule,
    budgets: p.budgets,
    clients,
    intake: p.intake,
    clock: p.clock,
    logger: p.logger,
    random: p.random ?? Math.random,
    claimLimit: config.claimLimit,
    leaseMs: config.leaseMs,
    intervalMs: config.intervalMs,
  });
}
