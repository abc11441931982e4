import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { NotificationChannel } from '../notifications/channel.js';
import type { NotificationRecord } from '../store/records.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { dropSchema, freshSchemaName, pgSuitesRun, testEngines } from '../testing/pg-test-db.js';
import { signal } from '../testing/signal.js';
import { ManualClock, monotonicClock, systemClock, type Clock } from './clock.js';
import { DbAlignedClock } from './db-clock.js';

// Instances whose host clocks disagree (one's NTP broke) must still agree on time: each
// decides by the database's clock (DbAlignedClock, as main.ts composes it), so a lease or a
// hold written by one is judged by another on the same timeline.

const MIN = 60_000;

/** A host clock `skewMs` off the shared real time the test moves by hand. */
const skewed = (real: ManualClock, skewMs: number): Clock => ({ now: () => real.now() + skewMs });

describe.each(await testEngines('database clock'))('DbAlignedClock on %s', (engine) => {
  let f: BackendFixture | undefined;
  afterEach(async () => {
    await f?.close();
    f = undefined;
  });

  it('reads the database clock through a host clock minutes off', async () => {
    f = await makeBackend({ engine });
    const clock = new DbAlignedClock(new ManualClock(Date.now() + 7 * MIN));
    const got = await clock.align(() => (f as BackendFixture).store.dbTime());
    // The test's database runs on this host: its clock is Date.now()'s.
    expect(Math.abs(got.offsetMs + 7 * MIN)).toBeLessThan(1_000);
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(1_000);
    expect(clock.alignment).toEqual(got);
  });

  it("keeps the database's time when NTP steps the host's clock between measurements", async () => {
    f = await makeBackend({ engine });
    const store = f.store;
    // As main.ts composes it.
    const clock = new DbAlignedClock(monotonicClock, systemClock);
    await clock.align(() => store.dbTime());
    // Whole milliseconds, as Date.now(): the times go into bigint columns and integer schemas.
    expect(Number.isInteger(clock.now())).toBe(true);
    // NTP resumes on a host three minutes behind and steps its wall clock forward.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3 * MIN });
    try {
      // Until the next measurement (up to a minute away) this instance must not run 3 min ahead.
      expect(Math.abs(clock.now() - vi.getRealSystemTime())).toBeLessThan(1_000);
      // The next measurement reports the host's new skew; time still goes by the database.
      const again = await clock.align(() => store.dbTime());
      expect(Math.abs(again.hostSkewMs + 3 * MIN)).toBeLessThan(1_000);
      expect(Math.abs(clock.now() - vi.getRealSystemTime())).toBeLessThan(1_000);
    } finally {
      vi.useRealTimers();
    }
  });
});

const runs = await pgSuitesRun('instances with skewed clocks');

describe.skipIf(!runs)('two instances whose host clocks disagree, on one PostgreSQL database', () => {
  const schemas: string[] = [];
  const open: BackendFixture[] = [];
  afterEach(async () => {
    for (const x of open.splice(0).reverse()) await x.close();
  });
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  /** Instance A's host clock lags real time by `lagA`, B's leads it by `leadB`; both aligned to the database. */
  async function instances(lagA: number, leadB: number, channels: { a?: NotificationChannel[]; b?: NotificationChannel[] } = {}): Promise<{ real: ManualClock; a: BackendFixture; b: BackendFixture }> {
    const schema = freshSchemaName();
    schemas.push(schema);
    const real = new ManualClock(Date.now());
    const clockA = new DbAlignedClock(skewed(real, -lagA));
    const clockB = new DbAlignedClock(skewed(real, leadB));
    const a = await makeBackend({ engine: 'postgres', pgSchema: schema, clock: clockA, ...(channels.a === undefined ? {} : { channels: channels.a }) });
    open.push(a);
    const b = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: a.dir, clock: clockB, ...(channels.b === undefined ? {} : { channels: channels.b }) });
    open.push(b);
    await clockA.align(() => a.store.dbTime());
    await clockB.align(() => b.store.dbTime());
    return { real, a, b };
  }

  it('sends a notification once while the instance that leased it is still sending, the other one a minute ahead', async () => {
    const sentBy: string[] = [];
    const reached = signal();
    const release = signal();
    const slow: NotificationChannel = {
      name: 'slow',
      send: async () => {
        sentBy.push('a');
        reached.fire();
        await release.wait;
      },
    };
    const quick: NotificationChannel = { name: 'quick', send: () => Promise.resolve(void sentBy.push('b')) };
    const setupFrom = Date.now();
    const { real, a, b } = await instances(40_000, 20_000, { a: [slow], b: [quick] });
    const at = a.services.clock.now() - MIN;
    const n: NotificationRecord = { id: 'ntf-skew', dedupeKey: 'skew-1', kind: 'order.placed', recipient: { name: 'Ada', email: 'ada@example.com' }, payload: {}, state: 'pending', attempts: 0, nextAttemptAt: at, createdAt: at };
    await a.store.notifications.enqueue(n);
    const draining = a.services.outbox.drain();
    await reached.wait;
    // A is mid-send, 5 s into its 30 s lease: B must see the lease live.
    real.advance(5_000);
    expect(await b.services.outbox.drain()).toBe(0);
    release.fire();
    expect(await draining).toBe(1);
    expect(sentBy).toEqual(['a']);
    // The broken host clock shows on /health, as its offset to the database's: 40 s, plus
    // the real time the setup took (the test's hand-moved clock stood still meanwhile).
    const health = (await (await a.app()).inject({ method: 'GET', url: '/health' })).json<{ clockOffsetMs: number }>();
    expect(health.clockOffsetMs).toBeGreaterThan(39_000);
    expect(health.clockOffsetMs).toBeLessThan(41_000 + (Date.now() - setupFrom));
  });

  it('keeps a hold made by an instance three minutes behind until it really expires, for an instance a minute ahead', async () => {
    const { real, a, b } = await instances(3 * MIN, MIN);
    await a.services.lockers.register(lockerInput('lk-skew', 52.52, 13.405, { M: 1 }));
    const held = (await a.services.reservations.reserve('key-skew-1', { orderRef: 'cart-1', lockerId: 'lk-skew', size: 'M' })).body;
    // 12 of the 15 minutes gone: the first customer still holds the only M compartment.
    real.advance(12 * MIN);
    expect(await b.services.reservations.sweep()).toBe(0);
    await expect(b.services.reservations.reserve('key-skew-2', { orderRef: 'cart-2', lockerId: 'lk-skew', size: 'M' })).rejects.toMatchObject({ code: 'NO_CAPACITY' });
    expect((await a.services.reservations.get(held.id)).status).toBe('held');
    // Past the 15 minutes it lapses for every instance alike.
    real.advance(3 * MIN + 1);
    expect(await b.services.reservations.sweep()).toBe(1);
  });
});
