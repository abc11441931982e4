// Tracking polling and ETA: `npm run bench tracking-polling`. Prints `name: value unit`.
//   tracking_poll_numbers_per_s  numbers fetched, parsed, handed to an intake and rescheduled
//                                per second by one poller against the simulated carrier on
//                                loopback (batches of 50, no rate limit: the poller's own cost
//                                plus HTTP and zod, not a carrier's budget)
//   poll_policy_decisions_per_s  decideDue + decideAfterSuccess pairs (the pure policy)
//   eta_estimates_per_s          estimateEta with learned stats and a promise (the core's etaFor seam)
import { ManualClock } from '@locker/backend/shared/clock.js';
import { silentLogger } from '@locker/backend/shared/logger.js';
import { estimateEta } from '@locker/backend/tracking/eta/eta-estimator.js';
import { emptyLegStats, learnLeg, type LegStats } from '@locker/backend/tracking/eta/leg-stats.js';
import { decideAfterSuccess, decideDue } from '@locker/backend/tracking/polling/hybrid-poll-policy.js';
import { InMemoryPollSchedule } from '@locker/backend/tracking/polling/in-memory-poll-schedule.js';
import { JsonRestCarrierClient } from '@locker/backend/tracking/polling/json-rest-carrier-client.js';
import type { PollEntry } from '@locker/backend/tracking/polling/poll-schedule-port.js';
import { RecordingIntake } from '@locker/backend/tracking/polling/testing/recording-intake.js';
import { scan, SimulatedCarrierApi } from '@locker/backend/tracking/polling/testing/simulated-carrier-api.js';
import { TrackingPoller } from '@locker/backend/tracking/polling/tracking-poller.js';
import { opsPerSecond, print } from './bench-kit.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1, 8);

async function pollThroughput(): Promise<number> {
  const clock = new ManualClock(T0);
  const api = new SimulatedCarrierApi({ clock, maxBatch: 50 });
  const baseUrl = await api.start();
  const schedule = new InMemoryPollSchedule();
  const intake = new RecordingIntake();
  const numbers = 5_000;
  for (let i = 0; i < numbers; i++) {
    const n = `BN${i}`;
    api.setShipment(n, [scan(`${n}-1`, 'PU', T0 - 5 * HOUR), scan(`${n}-2`, 'IT', T0 - 4 * HOUR, 'Paris')], T0 + 30 * HOUR);
    await schedule.noteEvent({ trackingNumber: n, carrier: 'simpost', status: 'in_transit', eventAt: T0 - 6 * HOUR }, T0 - 48 * HOUR);
  }
  const client = new JsonRestCarrierClient({ carrier: 'simpost', baseUrl, rateLimit: { requestsPerSecond: 1e6, burst: 1e6 }, maxBatch: 50, timeoutMs: 10_000, clock });
  const poller = new TrackingPoller({ schedule, clients: [client], intake, clock, logger: silentLogger(), random: Math.random, claimLimit: 500, leaseMs: HOUR, intervalMs: 1_000 });
  const start = performance.now();
  let fetched = 0;
  while (fetched < numbers) {
    const n = await poller.run();
    if (n === 0) throw new Error('poller stalled');
    fetched += n;
  }
  const seconds = (performance.now() - start) / 1000;
  await poller.stop();
  await api.close();
  if (intake.events().length !== numbers * 2) throw new Error(`expected ${numbers * 2} events, got ${intake.events().length}`);
  return Math.round(fetched / seconds);
}

function policyThroughput(): number {
  const entry: PollEntry = { trackingNumber: 'TN1', carrier: 'simpost', status: 'in_transit', etaAt: T0 + 3 * HOUR, lastEventAt: T0, lastWebhookAt: T0, createdAt: T0 - HOUR, mode: 'webhook', nextPollAt: T0, failures: 0, leaseUntil: null };
  let now = T0 + 13 * HOUR;
  return opsPerSecond(() => {
    now += 1;
    decideDue(entry, now);
    return decideAfterSuccess(entry, now);
  }, 2);
}

function etaThroughput(): number {
  let stats: LegStats = emptyLegStats;
  for (let i = 0; i < 200; i++) stats = learnLeg(stats, { carrier: 'simpost', events: [{ status: 'in_transit', eventTime: T0 - 500 * HOUR }, { status: 'delivered', eventTime: T0 - 500 * HOUR + (20 + (i % 15)) * HOUR }] });
  let now = T0;
  return opsPerSecond(() => estimateEta({ status: 'in_transit', carrier: 'simpost', promisedAt: T0 + 40 * HOUR, lastEventAt: T0 - HOUR, now: now++, stats }), 2);
}

print('tracking_poll_numbers_per_s', await pollThroughput(), 'numbers/s');
print('poll_policy_decisions_per_s', policyThroughput(), 'ops/s');
print('eta_estimates_per_s', etaThroughput(), 'ops/s');
