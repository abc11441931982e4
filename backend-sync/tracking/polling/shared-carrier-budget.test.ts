import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { silentLogger } from '../../shared/logger.js';
import { testEngines } from '../../testing/pg-test-db.js';
import { openTestStore } from '../../testing/test-store.js';
import { InMemoryCarrierBudgets, type CarrierBudgetPort } from './carrier-budget-port.js';
import { JsonRestCarrierClient } from './json-rest-carrier-client.js';
import { RecordingIntake } from './testing/recording-intake.js';
import { scan, SimulatedCarrierApi } from './testing/simulated-carrier-api.js';
import { TrackingPoller } from './tracking-poller.js';

// Two backend instances poll one carrier through the store's schedule (leases split the
// numbers) and the store's carrier budgets: together they stay within the carrier's rate,
// where two budgets of their own would each spend the whole of it. The carrier on loopback
// shares the ManualClock, so nothing sleeps.

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 1, 8);
const dir = mkdtempSync(join(tmpdir(), 'carrier-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const engines = await testEngines('shared carrier budgets');

describe.each(engines)('carrier budgets shared by two instances on %s', (engine) => {
  /** Polls 16 quiet numbers with two instances for up to 20 s of carrier time; the carrier's log and the numbers fetched. */
  async function twoInstancesPolling(budgets: (store: CarrierBudgetPort) => CarrierBudgetPort): Promise<{ api: SimulatedCarrierApi; fetched: Set<string>; numbers: string[] }> {
    const { store, dispose } = await openTestStore(engine, dir);
    const clock = new ManualClock(T0);
    // The carrier allows 4 requests a second: the adapter's 2/s with a burst of 2.
    const api = new SimulatedCarrierApi({ clock, rateLimit: { max: 4, windowMs: 1_000 } });
    const baseUrl = await api.start();
    const intake = new RecordingIntake();
    const numbers = Array.from({ length: 16 }, (_, i) => `SB${String(i)}`);
    const pollers = [0, 1].map(
      () =>
        new TrackingPoller({
          schedule: store.pollSchedule,
          budgets: budgets(store.carrierBudgets),
          clients: [new JsonRestCarrierClient({ carrier: 'simpost', baseUrl, rateLimit: { requestsPerSecond: 2, burst: 2 }, maxBatch: 1, timeoutMs: 5_000, clock })],
          intake,
          clock,
          logger: silentLogger(),
          random: () => 0.5,
          claimLimit: 4,
          leaseMs: 60_000,
          intervalMs: 10,
        }),
    );
    try {
      for (const n of numbers) {
        api.setShipment(n, [scan(`${n}-1`, 'IT', T0 - HOUR)]);
        await store.pollSchedule.noteEvent({ trackingNumber: n, carrier: 'simpost', status: 'in_transit', eventAt: T0 - 3 * HOUR }, T0 - 48 * HOUR);
      }
      for (let i = 0; i < 80 && new Set(intake.events().map((e) => e.trackingNumber)).size < numbers.length; i++) {
        await Promise.all(pollers.map((p) => p.run()));
        clock.advance(250);
      }
      return { api, fetched: new Set(intake.events().map((e) => e.trackingNumber)), numbers };
    } finally {
      for (const p of pollers) await p.stop();
      await api.close();
      await dispose();
    }
  }

  it('keeps both instances together within the carrier rate: no 429, no window over its limit', async () => {
    const { api, fetched, numbers } = await twoInstancesPolling((shared) => shared);
    expect(fetched).toEqual(new Set(numbers));
    expect(api.requests.filter((r) => r.status === 429)).toEqual([]);
    expect(Math.max(...api.requestsPerWindow(1_000).values())).toBeLessThanOrEqual(4);
  });

  it('draws 429s when each instance keeps a budget of its own (what the shared one prevents)', async () => {
    const { api } = await twoInstancesPolling(() => new InMemoryCarrierBudgets());
    expect(api.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
  });

  it('keeps one bucket per carrier in the database: burst, refill and a pause every instance sees', async () => {
    const { store, dispose } = await openTestStore(engine, dir);
    try {
      const limit = { requestsPerSecond: 2, burst: 2 };
      const budgets = store.carrierBudgets;
      expect(await budgets.take('simpost', limit, T0)).toEqual({ ok: true });
      expect(await budgets.take('simpost', limit, T0)).toEqual({ ok: true });
      expect(await budgets.take('simpost', limit, T0)).toEqual({ ok: false, waitMs: 500 });
      expect(await budgets.take('otherpost', limit, T0)).toEqual({ ok: true }); // each carrier its own
      expect(await budgets.take('simpost', limit, T0 + 500)).toEqual({ ok: true });
      await budgets.pause('simpost', limit, T0 + 500, 10_000); // a 429 with Retry-After 10 s
      expect(await budgets.take('simpost', limit, T0 + 5_000)).toEqual({ ok: false, waitMs: 5_500 });
      expect(await budgets.take('simpost', limit, T0 + 10_500)).toEqual({ ok: true }); // one request when the pause ends, not a burst
      expect(await budgets.take('simpost', limit, T0 + 10_500)).toEqual({ ok: false, waitMs: 500 });
      // The clock is stepped back an hour: the stored bucket refills from the new time.
      const back = T0 + 10_500 - HOUR;
      expect(await budgets.take('simpost', limit, back)).toEqual({ ok: false, waitMs: 500 });
      expect(await budgets.take('simpost', limit, back + 500)).toEqual({ ok: true });
    } finally {
      await dispose();
    }
  });
});
