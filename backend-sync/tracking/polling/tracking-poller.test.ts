import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { waitFor } from '../../testing/wait-for.js';
import { silentLogger } from '../../shared/logger.js';
import type { CarrierRateLimit } from './carrier-tracking-client.js';
import { InMemoryPollSchedule } from './in-memory-poll-schedule.js';
import { notePollNews } from './poll-schedule-news.js';
import { JsonRestCarrierClient } from './json-rest-carrier-client.js';
import { RecordingIntake } from './testing/recording-intake.js';
import { scan, SimulatedCarrierApi, type SimulatedCarrierOptions } from './testing/simulated-carrier-api.js';
import { TrackingPoller } from './tracking-poller.js';

// The poller against a carrier API on loopback (real HTTP, real zod parsing), driven by a
// ManualClock that the simulated carrier shares, so rate windows and schedules are counted
// in the same time and nothing here sleeps.

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 11, 1, 8);
const CARRIER = 'simpost';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  server?: SimulatedCarrierOptions;
  rateLimit?: CarrierRateLimit;
  maxBatch?: number;
  timeoutMs?: number;
  claimLimit?: number;
}

async function setup(s: Setup = {}) {
  const clock = new ManualClock(T0);
  const api = new SimulatedCarrierApi({ clock, ...s.server });
  const baseUrl = await api.start();
  cleanups.push(() => api.close());
  const schedule = new InMemoryPollSchedule();
  const intake = new RecordingIntake();
  const poller = (claimLimit = s.claimLimit ?? 100): TrackingPoller => {
    const client = new JsonRestCarrierClient({ carrier: CARRIER, baseUrl, rateLimit: s.rateLimit ?? { requestsPerSecond: 100, burst: 100 }, maxBatch: s.maxBatch ?? 10, timeoutMs: s.timeoutMs ?? 5_000, clock });
    const p = new TrackingPoller({ schedule, clients: [client], intake, clock, logger: silentLogger(), random: () => 0.5, claimLimit, leaseMs: 5 * MIN, intervalMs: 10 });
    cleanups.push(() => p.stop());
    return p;
  };
  /** A number that never had a webhook, promoted as soon as it is due (48 h after creation). */
  const quietNumber = async (tn: string, status: 'in_transit' | 'label_created' = 'in_transit'): Promise<void> => {
    await schedule.noteEvent({ trackingNumber: tn, carrier: CARRIER, status, eventAt: T0 - 3 * HOUR }, T0 - 48 * HOUR);
  };
  return { clock, api, schedule, intake, poller, quietNumber };
}

describe('tracking poller against a simulated carrier on loopback', () => {
  it('feeds polled scans to the intake with the response text as the raw payload', async () => {
    const { api, intake, poller, quietNumber, schedule } = await setup();
    api.setShipment('TN1', [scan('s1', 'PU', T0 - 2 * HOUR), scan('s2', 'IT', T0 - HOUR, 'Paris')], T0 + 30 * HOUR);
    await quietNumber('TN1');
    expect(await poller().run()).toBe(1);
    expect(intake.accepted).toHaveLength(1);
    const [{ raw, events }] = intake.accepted as [(typeof intake.accepted)[number]];
    expect(raw).toMatchObject({ source: 'poll', receivedAt: T0 });
    expect(JSON.parse(raw.body)).toMatchObject({ results: [{ number: 'TN1', found: true }] });
    expect(events.map((e) => [e.carrierEventId, e.status, e.eventTime])).toEqual([
      ['s1', 'picked_up', T0 - 2 * HOUR],
      ['s2', 'in_transit', T0 - HOUR],
    ]);
    expect(events[1]).toMatchObject({ carrier: CARRIER, location: { city: 'Paris', country: 'FR' }, estimatedDeliveryAt: T0 + 30 * HOUR });
    expect(schedule.get('TN1')).toMatchObject({ mode: 'polling', failures: 0, nextPollAt: T0 + 3 * HOUR, leaseUntil: null });
  });

  it('keeps every rate window of the carrier within its limit and never draws a 429', async () => {
    const { api, clock, poller, quietNumber, intake } = await setup({ server: { rateLimit: { max: 4, windowMs: 1_000 } }, rateLimit: { requestsPerSecond: 2, burst: 2 }, maxBatch: 1 });
    const numbers = Array.from({ length: 12 }, (_, i) => `TN${i}`);
    for (const n of numbers) {
      api.setShipment(n, [scan(`${n}-1`, 'IT', T0 - HOUR)]);
      await quietNumber(n);
    }
    const p = poller();
    expect(await p.run()).toBe(2); // the burst; the other ten wait for tokens, not counted as failures
    for (let i = 0; i < 40 && intake.accepted.length < numbers.length; i++) {
      clock.advance(250);
      await p.run();
    }
    expect(api.requests.filter((r) => r.status === 429)).toEqual([]);
    expect(Math.max(...api.requestsPerWindow(1_000).values())).toBeLessThanOrEqual(4);
    expect(api.requests.flatMap((r) => r.numbers).sort()).toEqual([...numbers].sort());
    // The sustained rate is the adapter's 2/s: 12 numbers, burst 2, then 10 at 2/s ≈ 5 s.
    expect(clock.now() - T0).toBeGreaterThanOrEqual(4_500);
  });

  it('backs off after a 5xx and polls again when the backoff is over', async () => {
    const { api, clock, poller, quietNumber, schedule, intake } = await setup();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    await quietNumber('TN1');
    api.failNext(1, 503);
    const p = poller();
    await p.run();
    const afterFailure = schedule.get('TN1')!;
    expect(afterFailure.failures).toBe(1);
    expect(afterFailure.nextPollAt).toBe(T0 + 45_000); // 1 min base, equal jitter at random 0.5
    clock.advance(44_000);
    await p.run();
    expect(api.requests).toHaveLength(1);
    clock.advance(1_000);
    await p.run();
    expect(api.requests.map((r) => r.status)).toEqual([503, 200]);
    expect(intake.events()).toHaveLength(1);
    expect(schedule.get('TN1')).toMatchObject({ failures: 0, nextPollAt: clock.now() + 3 * HOUR });
  });

  it('after a 429 waits the Retry-After for that number and pauses the whole carrier', async () => {
    const { api, clock, poller, quietNumber, schedule } = await setup({ server: { rateLimit: { max: 1, windowMs: 10 * MIN } }, maxBatch: 1 });
    for (const n of ['A', 'B', 'C']) {
      api.setShipment(n, [scan(`${n}1`, 'IT', T0 - HOUR)]);
      await quietNumber(n);
    }
    await poller().run();
    // A goes through; B draws the 429 (Retry-After 600 s); C is not even sent.
    expect(api.requests.map((r) => [r.numbers[0], r.status])).toEqual([
      ['A', 200],
      ['B', 429],
    ]);
    expect(schedule.get('B')).toMatchObject({ failures: 1, nextPollAt: T0 + 10 * MIN });
    expect(schedule.get('C')).toMatchObject({ failures: 0 });
    expect(schedule.get('C')!.nextPollAt).toBeGreaterThanOrEqual(T0 + 10 * MIN);
    // Next window: B (due first) goes through, C meets the carrier's limit of one per window.
    clock.set(T0 + 10 * MIN);
    await poller().run();
    expect(api.requests.slice(2).map((r) => [r.numbers[0], r.status])).toEqual([
      ['B', 200],
      ['C', 429],
    ]);
    expect(schedule.get('B')).toMatchObject({ failures: 0 });
  });

  it('honours the Retry-After of a 503 (carrier maintenance) for the number and the carrier', async () => {
    const { api, clock, poller, quietNumber, schedule } = await setup();
    api.setShipment('A', [scan('a1', 'IT', T0 - HOUR)]);
    await quietNumber('A');
    api.failNext(1, 503, '3600');
    const p = poller();
    await p.run();
    expect(schedule.get('A')).toMatchObject({ failures: 1, nextPollAt: T0 + HOUR });
    // Another number due meanwhile is not sent either: the carrier's bucket is paused.
    api.setShipment('B', [scan('b1', 'IT', T0 - HOUR)]);
    await quietNumber('B');
    clock.set(T0 + 30 * MIN);
    await p.run();
    expect(api.requests).toHaveLength(1);
    clock.set(T0 + HOUR);
    await p.run();
    expect(api.requests.map((r) => [r.numbers.sort(), r.status])).toEqual([
      [['A'], 503],
      [['A', 'B'], 200],
    ]);
  });

  it('waits at most 6 h, number and carrier, whatever Retry-After a 429 names', async () => {
    const { api, clock, poller, quietNumber, schedule } = await setup();
    api.setShipment('A', [scan('a1', 'IT', T0 - HOUR)]);
    await quietNumber('A');
    api.failNext(1, 429, '315360000'); // ten years
    const p = poller();
    await p.run();
    expect(schedule.get('A')).toMatchObject({ failures: 1, nextPollAt: T0 + 6 * HOUR });
    clock.set(T0 + 6 * HOUR);
    await p.run();
    expect(api.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  it('keeps polling at the carrier rate after the clock steps back', async () => {
    const { api, clock, poller, quietNumber } = await setup({ rateLimit: { requestsPerSecond: 1, burst: 1 } });
    api.setShipment('A', [scan('a1', 'IT', T0 - HOUR)]);
    await quietNumber('A');
    const p = poller();
    await p.run();
    clock.set(T0 - HOUR); // NTP steps the clock back an hour; B comes due
    api.setShipment('B', [scan('b1', 'IT', T0 - 2 * HOUR)]);
    await quietNumber('B');
    for (let i = 0; i < 5; i++) {
      await p.run();
      clock.advance(1_000);
    }
    expect(api.requests.flatMap((r) => r.numbers)).toEqual(['A', 'B']);
  });

  it('promotes a number to polling only once its webhooks have gone quiet', async () => {
    const { api, clock, poller, schedule, intake } = await setup();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    await schedule.noteWebhook('TN1', CARRIER, T0, 'in_transit');
    const p = poller();
    await p.run();
    expect(api.requests).toEqual([]);
    expect(schedule.get('TN1')).toMatchObject({ mode: 'webhook', nextPollAt: T0 + 12 * HOUR });
    clock.advance(12 * HOUR - 1);
    await p.run();
    expect(api.requests).toEqual([]);
    clock.advance(1);
    await p.run();
    expect(api.requests.map((r) => r.numbers)).toEqual([['TN1']]);
    expect(intake.events()).toHaveLength(1);
    expect(schedule.get('TN1')).toMatchObject({ mode: 'polling', nextPollAt: T0 + 15 * HOUR });
  });

  it('promotes an out-for-delivery number 2 h after its last webhook, as the applier notes the news', async () => {
    const { api, clock, poller, schedule } = await setup();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR), scan('s2', 'OD', T0 + HOUR)]);
    const news = { trackingNumber: 'TN1', carrier: CARRIER, source: 'easypost' as const };
    await notePollNews(schedule, { ...news, status: 'in_transit', eventAt: T0 - HOUR, receivedAt: T0 });
    await notePollNews(schedule, { ...news, status: 'out_for_delivery', eventAt: T0 + HOUR, receivedAt: T0 + HOUR });
    expect(schedule.get('TN1')).toMatchObject({ mode: 'webhook', nextPollAt: T0 + 3 * HOUR, lastWebhookAt: T0 + HOUR });
    const p = poller();
    clock.set(T0 + 3 * HOUR - 1);
    await p.run();
    expect(api.requests).toEqual([]);
    clock.set(T0 + 3 * HOUR);
    await p.run();
    expect(api.requests.map((r) => r.numbers)).toEqual([['TN1']]);
    expect(schedule.get('TN1')).toMatchObject({ mode: 'polling', nextPollAt: T0 + 3 * HOUR + 15 * MIN });
    // The applier notes the polled event too: it is not a webhook, so polling goes on.
    await notePollNews(schedule, { ...news, source: 'poll', status: 'out_for_delivery', eventAt: T0 + HOUR, receivedAt: T0 + 3 * HOUR });
    expect(schedule.get('TN1')).toMatchObject({ mode: 'polling', lastWebhookAt: T0 + HOUR, nextPollAt: T0 + 3 * HOUR + 15 * MIN });
  });

  it('demotes a polled number when a webhook arrives, without asking the carrier', async () => {
    const { api, clock, poller, schedule, quietNumber } = await setup();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    await quietNumber('TN1');
    const p = poller();
    await p.run();
    expect(schedule.get('TN1')).toMatchObject({ mode: 'polling', nextPollAt: T0 + 3 * HOUR });
    clock.advance(HOUR);
    await schedule.noteWebhook('TN1', CARRIER, clock.now(), 'in_transit');
    clock.set(T0 + 3 * HOUR);
    await p.run();
    expect(api.requests).toHaveLength(1);
    expect(schedule.get('TN1')).toMatchObject({ mode: 'webhook', nextPollAt: T0 + HOUR + 12 * HOUR });
  });

  it('polls every 15 minutes near delivery and stops once delivered', async () => {
    const { api, clock, poller, schedule, quietNumber } = await setup();
    api.setShipment('FAR', [scan('f1', 'IT', T0 - HOUR)], T0 + 2 * 24 * HOUR);
    api.setShipment('NEAR', [scan('n1', 'IT', T0 - HOUR)], T0 + 3 * HOUR);
    api.setShipment('OFD', [scan('o1', 'IT', T0 - 2 * HOUR), scan('o2', 'OD', T0 - HOUR)]);
    for (const n of ['FAR', 'NEAR', 'OFD']) await quietNumber(n);
    const p = poller();
    await p.run();
    expect(schedule.get('FAR')!.nextPollAt).toBe(T0 + 3 * HOUR);
    expect(schedule.get('NEAR')).toMatchObject({ nextPollAt: T0 + 15 * MIN, etaAt: T0 + 3 * HOUR });
    expect(schedule.get('OFD')).toMatchObject({ nextPollAt: T0 + 15 * MIN, status: 'out_for_delivery' });
    api.addScan('OFD', scan('o3', 'DL', T0 + 10 * MIN));
    clock.advance(15 * MIN);
    await p.run();
    expect(schedule.get('OFD')).toMatchObject({ status: 'delivered', nextPollAt: null });
    const before = api.requests.length;
    for (let i = 0; i < 8; i++) {
      clock.advance(6 * HOUR);
      await p.run();
    }
    expect(api.requests.slice(before).flatMap((r) => r.numbers)).not.toContain('OFD');
  });

  it('polls a parcel past a promise the carrier never updated at the in-transit cadence once the promise is 4 h stale', async () => {
    const { api, clock, poller, quietNumber } = await setup();
    api.setShipment('LATE1', [scan('l1', 'IT', T0 - HOUR)], T0 + HOUR); // promised in 1 h, then the parcel stalls
    await quietNumber('LATE1');
    const p = poller();
    for (let i = 0; i < 3 * 24 * 4; i++) {
      await p.run();
      clock.advance(15 * MIN);
    }
    // Every 15 min until 4 h past the promise (T0 + 5 h: 21 polls), then every 3 h.
    expect(api.requests).toHaveLength(21 + 23);
  });

  it('lets two pollers on one schedule fetch every due number exactly once in a round', async () => {
    const { api, poller, quietNumber, intake } = await setup({ maxBatch: 5 });
    const numbers = Array.from({ length: 40 }, (_, i) => `N${String(i).padStart(2, '0')}`);
    for (const n of numbers) {
      api.setShipment(n, [scan(`${n}-1`, 'IT', T0 - HOUR)]);
      await quietNumber(n);
    }
    const [a, b] = await Promise.all([poller(25).run(), poller(25).run()]);
    expect(a + b).toBe(40);
    expect(Math.min(a, b)).toBeGreaterThan(0);
    const asked = api.requests.flatMap((r) => r.numbers);
    expect(asked.sort()).toEqual(numbers);
    expect(intake.events().map((e) => e.trackingNumber).sort()).toEqual(numbers);
  });

  it('dead-letters a response that is not JSON and backs the batch off', async () => {
    const { api, poller, quietNumber, schedule, intake } = await setup();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    await quietNumber('TN1');
    api.malformNext('not_json');
    await poller().run();
    expect(intake.deadLetters).toHaveLength(1);
    expect(intake.deadLetters[0]).toMatchObject({ raw: { source: 'poll', body: '<html>maintenance</html>' } });
    expect(intake.deadLetters[0]!.reason).toMatch(/not JSON/);
    expect(intake.accepted).toEqual([]);
    expect(schedule.get('TN1')).toMatchObject({ failures: 1 });
  });

  it('dead-letters one malformed result and still ingests the rest of the response', async () => {
    const { api, poller, quietNumber, schedule, intake } = await setup();
    for (const n of ['A', 'B']) {
      api.setShipment(n, [scan(`${n}1`, 'IT', T0 - HOUR)]);
      await quietNumber(n);
    }
    api.malformNext('bad_item');
    await poller().run();
    expect(intake.deadLetters).toHaveLength(1);
    expect(intake.deadLetters[0]!.reason).toMatch(/^simpost: A: /);
    expect(intake.events().map((e) => e.trackingNumber)).toEqual(['B']);
    expect(schedule.get('A')).toMatchObject({ failures: 1 });
    expect(schedule.get('B')).toMatchObject({ failures: 0 });
  });

  it('asks again about a number the carrier does not know yet only after its status interval', async () => {
    const { api, poller, quietNumber, schedule, intake } = await setup();
    api.setShipment('KNOWN', [scan('k1', 'IT', T0 - HOUR)]);
    await quietNumber('KNOWN');
    await quietNumber('UNKNOWN', 'label_created');
    await poller().run();
    expect(api.requests.map((r) => r.numbers.sort())).toEqual([['KNOWN', 'UNKNOWN']]);
    expect(schedule.get('UNKNOWN')).toMatchObject({ failures: 1, nextPollAt: T0 + 24 * HOUR });
    expect(schedule.get('KNOWN')).toMatchObject({ failures: 0, nextPollAt: T0 + 3 * HOUR });
    expect(intake.events().map((e) => e.trackingNumber)).toEqual(['KNOWN']);
  });

  it('stops polling a label never handed to the carrier 30 days after its label scan', async () => {
    const { api, clock, poller, quietNumber, schedule } = await setup();
    api.setShipment('LC1', [scan('l1', 'LC', T0 - 3 * HOUR)]);
    await quietNumber('LC1', 'label_created');
    const p = poller();
    for (let day = 0; day < 60; day++) {
      await p.run();
      clock.advance(24 * HOUR);
    }
    // Daily polls until 30 days after the label scan (T0 − 3 h), then none.
    expect(api.requests).toHaveLength(30);
    expect(schedule.get('LC1')).toMatchObject({ nextPollAt: null, leaseUntil: null });
  });

  it('polls the batch again soon when the intake could not persist it', async () => {
    const { api, clock, poller, quietNumber, schedule, intake } = await setup();
    api.setShipment('KNOWN', [scan('k1', 'IT', T0 - HOUR)]);
    await quietNumber('KNOWN');
    intake.failNextAccept();
    const p = poller();
    await p.run();
    expect(intake.accepted).toEqual([]);
    expect(schedule.get('KNOWN')).toMatchObject({ failures: 1, nextPollAt: T0 + 45_000 });
    clock.advance(45_000);
    await p.run();
    expect(intake.events().map((e) => e.carrierEventId)).toEqual(['k1']);
  });

  it('gives up a request that outlasts the client timeout, as a transient failure', async () => {
    const { api, poller, quietNumber, schedule } = await setup({ timeoutMs: 50 });
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    await quietNumber('TN1');
    api.setDelay(1_000);
    await poller().run();
    expect(schedule.get('TN1')).toMatchObject({ failures: 1, leaseUntil: null });
  });

  it('ingests the answer for a number withdrawn while its request was out, and its news does not re-arm it', async () => {
    const { api, clock, poller, schedule, intake } = await setup();
    api.setShipment('W1', [scan('w1', 'PU', T0 - HOUR)]);
    api.setShipment('KEEP', [scan('k1', 'PU', T0 - HOUR)]);
    for (const tn of ['W1', 'KEEP']) await schedule.enroll({ trackingNumber: tn, carrier: CARRIER, at: T0 - 48 * HOUR, dueBy: T0, restart: false });
    api.setDelay(200);
    const p = poller();
    const round = p.run();
    await new Promise((r) => setTimeout(r, 50));
    await schedule.withdraw('W1'); // its shipment is cancelled meanwhile
    await round;
    api.setDelay(0);
    // W1's scan is real: it enters tracking like any other (nothing valid is dropped).
    expect(intake.events().map((e) => e.trackingNumber).sort()).toEqual(['KEEP', 'W1']);
    expect(schedule.get('W1')).toMatchObject({ nextPollAt: null, leaseUntil: null, failures: 0 });
    // What the applier does with the batch's news: W1's does not bring it back.
    for (const e of intake.events()) await notePollNews(schedule, { trackingNumber: e.trackingNumber, carrier: CARRIER, source: 'poll', status: e.status, eventAt: e.eventTime, receivedAt: T0 });
    for (let day = 0; day < 10; day++) {
      clock.advance(24 * HOUR);
      await p.run();
    }
    expect(api.requests.flatMap((r) => r.numbers).filter((n) => n === 'W1')).toHaveLength(1);
  });

  it('stop() aborts a request in flight, waits for the round, and counts it as nothing: number due as before, carrier not paused', async () => {
    const { api, poller, quietNumber, schedule, intake } = await setup({ maxBatch: 1 });
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    api.setShipment('TN2', [scan('s2', 'IT', T0 - HOUR)]);
    await quietNumber('TN1');
    await quietNumber('TN2');
    const before = schedule.get('TN1')!;
    api.setDelay(5_000);
    const p = poller();
    const round = p.run();
    await new Promise((r) => setTimeout(r, 30));
    await p.stop();
    expect(await round).toBe(0);
    // TN2's batch, not sent yet, is not sent after the stop either.
    expect(api.requests.flatMap((r) => r.numbers)).toEqual(['TN1']);
    for (const tn of ['TN1', 'TN2']) expect(schedule.get(tn)).toMatchObject({ failures: 0, nextPollAt: before.nextPollAt, leaseUntil: null });
    // Restarted at the same instant: both go out at once, no backoff, no carrier pause.
    api.setDelay(0);
    expect(await p.run()).toBe(2);
    expect(intake.events().map((e) => e.trackingNumber).sort()).toEqual(['TN1', 'TN2']);
  });

  it('start() polls on its own timer', async () => {
    const { api, poller, quietNumber, intake } = await setup();
    api.setShipment('TN1', [scan('s1', 'IT', T0 - HOUR)]);
    await quietNumber('TN1');
    const p = poller();
    p.start();
    await waitFor(() => intake.accepted.length === 1, 'a round on the timer');
    await p.stop();
    expect(api.requests.flatMap((r) => r.numbers)).toEqual(['TN1']);
  });
});
