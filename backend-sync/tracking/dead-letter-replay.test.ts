import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { acceptAndApply, noticesOf, scanAt } from '../testing/backend-tracking.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';
import { scan } from '../testing/tracking-helpers.js';

// A locker's door event that was dead-lettered (its number's apply failed) and resent once
// the cause is fixed must come back as the locker's: history source `locker`, so the doors
// rule sees the parcel in its compartment, with the same identity, so a second replay is a
// duplicate. Through POST /tracking/events (a carrier's route) it came back as a carrier
// scan; that route now refuses locker event ids, and the replay has its own admin route.

const engines = await testEngines('dead letter replay');

describe.each(engines)('a dead-lettered locker event replayed on %s', (engine) => {
  let f: BackendFixture;
  beforeEach(async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
  });
  afterEach(() => f.close());

  /** What the applier does with a number whose events keep failing (tracking-applier.ts, deadLetterAll). */
  const deadLetterInbox = (): Promise<void> =>
    f.store.transaction(async () => {
      const { rows } = await f.store.tracking.claimInbox(1_000, 5_000);
      for (const [i, r] of rows.entries()) {
        await f.store.tracking.deadLetter({ id: `tdl_test${String(i)}`, source: r.source, body: `{"events":[${r.eventJson}]}`, reason: 'apply failed: test', receivedAt: r.receivedAt });
      }
      await f.store.tracking.deleteInbox(rows.map((r) => r.seq));
    });
  const post = async (url: string, body?: string) => (await f.app()).inject({ method: 'POST', url, ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, payload: body }) });

  async function depositDeadLettered(tn: string): Promise<{ shipmentId: string; body: string }> {
    const o = await paidOrder(f, `ord-${tn}`, [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', tn);
    await acceptAndApply(f, [scan(tn, 'in_transit', scanAt(f, 0)), scan(tn, 'out_for_delivery', scanAt(f, 60))]);
    expect(await f.services.parcels.deposited(s.id, 'lk-a', undefined, scanAt(f, 120), { actor: 'locker' })).toBe('applied');
    await deadLetterInbox();
    const dead = await f.store.tracking.deadLetters();
    expect(dead.map((d) => d.source)).toEqual(['locker']);
    return { shipmentId: s.id, body: dead[0]?.body ?? '' };
  }

  it('keeps the locker source, so the doors decide, and a second replay is a duplicate', async () => {
    const { shipmentId } = await depositDeadLettered('DLR-1');

    const res = await post('/admin/tracking/dead-letters/tdl_test0/replay');
    expect({ status: res.statusCode, body: res.json<unknown>() }).toMatchObject({ status: 202, body: { deadLetterId: 'tdl_test0', source: 'locker', received: 1 } });
    // Joins the pass the route started (on PostgreSQL a drain beside it skips the rows it holds).
    await f.services.tracking.applier.kick();
    expect(await f.store.tracking.deadLetters()).toEqual([]);
    const history = await f.store.tracking.history('DLR-1');
    expect(history.filter((h) => h.event.status === 'available_for_pickup').map((h) => h.source)).toEqual(['locker']);
    expect((await f.store.tracking.projection('DLR-1'))?.projection).toMatchObject({ status: 'available_for_pickup', inLocker: true });

    // The doors decide now: a carrier's late "locker full" is kept for review, not told.
    await acceptAndApply(f, [scan('DLR-1', 'exception', scanAt(f, 125), { carrierReason: 'locker full' })]);
    expect((await f.store.tracking.projection('DLR-1'))?.projection.status).toBe('available_for_pickup');
    expect(await noticesOf(f, 'tracking.exception', shipmentId)).toHaveLength(0);

    // The same event dead-lettered again and replayed: recognised by its locker id, not applied twice.
    const before = (await f.store.tracking.history('DLR-1')).length;
    const deposit = history.find((h) => h.event.status === 'available_for_pickup')?.event;
    await f.store.tracking.deadLetter({ id: 'tdl_again', source: 'locker', body: JSON.stringify({ events: [deposit] }), reason: 'test', receivedAt: f.clock.now() });
    expect((await post('/admin/tracking/dead-letters/tdl_again/replay')).statusCode).toBe(202);
    await f.services.tracking.applier.kick();
    expect((await f.store.tracking.history('DLR-1')).length).toBe(before);
    const metrics = (await (await f.app()).inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/^backend_tracking_dedupe_hits_total\{level="carrier_event_id"\} 1$/m);
  });

  it('refuses the locker event resent through POST /tracking/events (a carrier cannot speak for the doors)', async () => {
    const { body } = await depositDeadLettered('DLR-2');
    const res = await post('/tracking/events', body);
    expect({ status: res.statusCode, code: res.json<{ error?: { code?: string } }>().error?.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    await f.services.tracking.applier.drain();
    expect(await f.store.tracking.history('DLR-2')).toHaveLength(2);
    // Still there to be replayed the right way.
    expect((await f.store.tracking.deadLetters()).map((d) => d.id)).toEqual(['tdl_test0']);
  });

  it('answers 404 for an unknown dead letter and 409 for one that is no canonical batch, leaving it in place', async () => {
    expect((await post('/admin/tracking/dead-letters/tdl_nothing/replay')).statusCode).toBe(404);
    await f.store.tracking.deadLetter({ id: 'tdl_raw', source: 'easypost', body: '{"object":"Event","description":"tracker.updated"', reason: 'invalid JSON', receivedAt: f.clock.now() });
    expect((await post('/admin/tracking/dead-letters/tdl_raw/replay')).statusCode).toBe(409);
    expect((await f.store.tracking.deadLetters()).map((d) => d.id)).toEqual(['tdl_raw']);
  });
});
