import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/config.js';
import { ManualClock } from '../../shared/clock.js';
import { isBackendError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { InMemoryCarrierBudgets } from './carrier-budget-port.js';
import { createTrackingPoller } from './create-tracking-poller.js';
import { InMemoryPollSchedule } from './in-memory-poll-schedule.js';
import { RecordingIntake } from './testing/recording-intake.js';
import { scan, SimulatedCarrierApi } from './testing/simulated-carrier-api.js';

const T0 = Date.UTC(2026, 11, 1, 8);
let api: SimulatedCarrierApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

function parts(trackingPolling: unknown) {
  const config = parseConfig({ mqtt: { enabled: false }, trackingPolling }).trackingPolling;
  return { config, schedule: new InMemoryPollSchedule(), budgets: new InMemoryCarrierBudgets(), intake: new RecordingIntake(), clock: new ManualClock(T0), logger: silentLogger(), random: () => 0.5 };
}

describe('tracking poller from config', () => {
  it('is off by default and when no carrier is configured', () => {
    expect(createTrackingPoller(parts(undefined))).toBeUndefined();
    expect(createTrackingPoller(parts({ enabled: true }))).toBeUndefined();
  });

  it('polls the configured carrier, its code normalised as events carry it', async () => {
    api = new SimulatedCarrierApi();
    const baseUrl = await api.start();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - 3_600_000)]);
    const p = parts({ enabled: true, carriers: [{ carrier: ' SimPost ', baseUrl, requestsPerSecond: 5 }] });
    await p.schedule.noteEvent({ trackingNumber: 'TN1', carrier: 'simpost', status: 'in_transit', eventAt: T0 - 3_600_000 }, T0 - 48 * 3_600_000);
    const poller = createTrackingPoller(p)!;
    expect(await poller.run()).toBe(1);
    expect(p.intake.events().map((e) => [e.carrier, e.trackingNumber])).toEqual([['simpost', 'TN1']]);
    await poller.stop();
  });

  it("bounds each carrier's answers by its maxResponseBytes", async () => {
    api = new SimulatedCarrierApi();
    const baseUrl = await api.start();
    // 1,000 scans: an answer of well over 64 KiB (~150 bytes a scan).
    api.setShipment('TN1', Array.from({ length: 1_000 }, (_, i) => scan(`s${String(i)}`, 'IT', T0 - 3_600_000 + i)));
    const p = parts({ enabled: true, carriers: [{ carrier: 'simpost', baseUrl, requestsPerSecond: 5, maxResponseBytes: 64 * 1024 }] });
    await p.schedule.noteEvent({ trackingNumber: 'TN1', carrier: 'simpost', status: 'in_transit', eventAt: T0 - 3_600_000 }, T0 - 48 * 3_600_000);
    const poller = createTrackingPoller(p)!;
    expect(await poller.run()).toBe(1);
    // Failed and backed off, nothing ingested or dead-lettered.
    expect(p.intake.events()).toEqual([]);
    expect(p.intake.deadLetters).toEqual([]);
    expect(p.schedule.get('TN1')?.failures).toBe(1);
    await poller.stop();
  });

  it('refuses two entries for one carrier, and a lease shorter than a round', () => {
    const carrier = { carrier: 'simpost', baseUrl: 'http://127.0.0.1:9', requestsPerSecond: 1 };
    const refused = (tp: unknown): boolean => {
      try {
        parts(tp);
        return false;
      } catch (err) {
        return isBackendError(err, 'CONFIG_INVALID');
      }
    };
    expect(refused({ carriers: [carrier, { ...carrier, carrier: 'SIMPOST' }] })).toBe(true);
    expect(refused({ leaseMs: 20_000, requestTimeoutMs: 10_000, claimLimit: 200, carriers: [{ ...carrier, maxBatch: 50 }] })).toBe(true);
    expect(refused({ leaseMs: 50_000, requestTimeoutMs: 10_000, claimLimit: 200, carriers: [{ ...carrier, maxBatch: 50 }] })).toBe(false);
  });
});
