import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { pgSuitesRun, testEngines } from '../testing/pg-test-db.js';
import { twoLineOrder as order, outcome } from '../testing/order-helpers.js';
import { twoInstancesSharingPayments } from '../testing/two-instances.js';

// A provider answers a repeated idempotency key with its first answer, a decline included
// (as the simulated one and real ones do). A declined capture must not hold the order's
// payment for ever: the customer pays again (another card) under a new key, while a retry
// after a LOST answer keeps the key it had, and the order is never captured twice.

/** Keys the provider was asked with, in order, and what it really captured (every order here costs 4000). */
function watchCaptures(f: BackendFixture): { keys: string[]; captured: () => number } {
  const real = f.payments.capture.bind(f.payments);
  const keys: string[] = [];
  f.payments.capture = (req) => {
    keys.push(req.idempotencyKey);
    return real(req);
  };
  return { keys, captured: () => [...f.payments.captures.values()].filter((r) => r.ok).length * 4000 };
}

const engines = await testEngines('capture after a decline');

describe.each(engines)('a declined capture on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
  });
  afterEach(() => f.close());

  it('lets the customer pay again after a decline, under a new idempotency key', async () => {
    const { body: o } = await f.services.orders.place('decline-key-0001', order('decline-key-0001'));
    const w = watchCaptures(f);
    f.payments.declineCaptures = true;
    expect(await outcome(f.services.orders.confirmPayment(o.id, 'merchant'))).toBe('payment was declined');
    expect((await f.services.orders.get(o.id)).state).toBe('placed');
    // The customer authorises another card; the provider would now accept.
    f.payments.declineCaptures = false;
    expect(await outcome(f.services.orders.confirmPayment(o.id, 'merchant'))).toBe('ok');
    expect({ state: (await f.services.orders.get(o.id)).state, keys: w.keys, captured: w.captured() }).toEqual({
      state: 'payment_confirmed',
      keys: [`capture:${o.id}`, `capture:${o.id}:1`],
      captured: 4000,
    });
  });

  it('keeps the key of an attempt whose answer was lost, also after a decline', async () => {
    const { body: o } = await f.services.orders.place('decline-key-0002', order('decline-key-0002'));
    const w = watchCaptures(f);
    const watched = f.payments.capture;
    f.payments.declineCaptures = true;
    await outcome(f.services.orders.confirmPayment(o.id, 'merchant'));
    f.payments.declineCaptures = false;
    // The provider captures, but the answer never comes back.
    f.payments.capture = async (req) => {
      await watched(req);
      throw new Error('socket hang up');
    };
    expect(await outcome(f.services.orders.confirmPayment(o.id, 'merchant'))).toBe('socket hang up');
    f.payments.capture = watched;
    expect(await outcome(f.services.orders.confirmPayment(o.id, 'merchant'))).toBe('ok');
    expect({ keys: w.keys, captured: w.captured() }).toEqual({ keys: [`capture:${o.id}`, `capture:${o.id}:1`, `capture:${o.id}:1`], captured: 4000 });
  });

  it('never captures twice when a late decline answer arrives after another attempt was captured', async () => {
    const { body: o } = await f.services.orders.place('decline-key-0003', order('decline-key-0003'));
    const w = watchCaptures(f);
    const watched = f.payments.capture;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inA = new Promise<void>((r) => (entered = r));
    let calls = 0;
    f.payments.capture = async (req) => {
      const r = await watched(req);
      if (++calls === 1) {
        entered();
        await gate; // A's decline is slow to come back
      }
      return r;
    };
    f.payments.declineCaptures = true;
    const a = outcome(f.services.orders.confirmPayment(o.id, 'instance-a'));
    await inA;
    // B asks under the same key: the provider replays the decline; the customer pays again.
    expect(await outcome(f.services.orders.confirmPayment(o.id, 'instance-b'))).toBe('payment was declined');
    f.payments.declineCaptures = false;
    // C's capture succeeds, but its answer is slow too: the order is still placed meanwhile.
    let releaseC!: () => void;
    const gateC = new Promise<void>((r) => (releaseC = r));
    let cEntered!: () => void;
    const inC = new Promise<void>((r) => (cEntered = r));
    const inner = f.payments.capture;
    f.payments.capture = async (req) => {
      const r = await inner(req);
      cEntered();
      await gateC;
      return r;
    };
    const c = outcome(f.services.orders.confirmPayment(o.id, 'instance-c'));
    await inC;
    f.payments.capture = inner;
    // A's stale decline lands now: it must not open yet another key while C's capture stands.
    release();
    expect(await a).toBe('payment was declined');
    // D, still seeing the order placed, asks under C's key: the provider replays C's capture.
    const d = await outcome(f.services.orders.confirmPayment(o.id, 'instance-d'));
    releaseC();
    expect({ c: await c, d, state: (await f.services.orders.get(o.id)).state, captured: w.captured() }).toEqual({
      c: 'order in state payment_confirmed cannot confirm payment',
      d: 'ok',
      state: 'payment_confirmed',
      captured: 4000,
    });
  });
});

const pgRuns = await pgSuitesRun('capture after a decline on two instances');

describe.skipIf(!pgRuns)('a declined capture on two instances (PostgreSQL)', () => {
  const instances = twoInstancesSharingPayments();
  let a: BackendFixture;
  let b: BackendFixture;
  beforeEach(() => {
    a = instances.a();
    b = instances.b();
  });

  it('both instances see the decline, the next attempt on either captures once', async () => {
    const { body: o } = await a.services.orders.place('decline-two-0001', order('decline-two-0001'));
    const w = watchCaptures(a);
    // Both attempts must be in flight together, as the test means: each read the order before
    // either decline was counted, so both ask under the first key. Left to the scheduler, one
    // instance could finish its whole attempt before the other read the order (a slow pool
    // connection, a loaded machine: about 1 run in 100); that one then rightly asks under the
    // next key, is declined too, and the expected keys no longer hold. So the provider answers
    // neither until both have asked.
    const watched = a.payments.capture;
    let arrived = 0;
    let bothAsked!: () => void;
    const together = new Promise<void>((r) => (bothAsked = r));
    a.payments.capture = async (req) => {
      if (++arrived === 2) bothAsked();
      await together;
      return watched(req);
    };
    a.payments.declineCaptures = true;
    const declined = await Promise.all([outcome(a.services.orders.confirmPayment(o.id, 'a')), outcome(b.services.orders.confirmPayment(o.id, 'b'))]);
    a.payments.capture = watched;
    a.payments.declineCaptures = false;
    const paid = await Promise.all([outcome(b.services.orders.confirmPayment(o.id, 'b')), outcome(a.services.orders.confirmPayment(o.id, 'a'))]);
    expect({ declined, paid: paid.sort(), state: (await a.services.orders.get(o.id)).state, keys: [...new Set(w.keys)], captured: w.captured() }).toEqual({
      declined: ['payment was declined', 'payment was declined'],
      paid: ['ok', 'order in state payment_confirmed cannot confirm payment'],
      state: 'payment_confirmed',
      keys: [`capture:${o.id}`, `capture:${o.id}:1`],
      captured: 4000,
    });
  });
});
