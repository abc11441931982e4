import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { auditChain } from '../testing/audit-chain.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { dropSchema, freshSchemaName, pgSuitesRun, testEngines } from '../testing/pg-test-db.js';

// A customer asked to return a parcel and never dropped it off. The compartment reserved
// for the return used to stay reserved for ever once the drop-off code expired.

/** A collected parcel whose return was requested: the drop-off code's expiry and the door reserved for it. */
async function returnRequested(f: BackendFixture, key: string): Promise<{ shipmentId: string; orderId: string; compartmentId: string; codeExpiresAt: number }> {
  const o = await paidOrder(f, key, [{ lineId: 'l1', size: 'M' }]);
  const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', `RET-${key}`.toUpperCase());
  const who = { actor: 'locker:lk-a' };
  await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), who);
  await f.services.parcels.collected(s.id, 'lk-a', who);
  await f.services.parcels.requestReturn(s.id, 'lk-a', { actor: 'customer', reason: 'wrong size' });
  const r = (await f.store.shipments.get(s.id))!;
  const entry = (await f.store.codeSets.entry('lk-a', r.returnTokenId!))!;
  return { shipmentId: s.id, orderId: o.id, compartmentId: r.compartmentId!, codeExpiresAt: entry.expiresAt };
}

const expiredNotices = async (f: BackendFixture): Promise<number> => (await f.store.notifications.list({ kind: 'return.code_expired' })).length;
const doorState = async (f: BackendFixture, id: string): Promise<string | undefined> => (await f.services.lockers.get('lk-a')).compartments.find((c) => c.id === id)?.state;

const engines = await testEngines('return drop-off code expiry');

describe.each(engines)('an unused return drop-off code on %s', (engine) => {
  let f: BackendFixture;
  afterEach(() => f.close());

  it('frees its compartment once expired, puts the shipment back to collected and tells the customer once', async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    const r = await returnRequested(f, 'ord-ret-exp');
    expect(await doorState(f, r.compartmentId)).toBe('reserved');
    // Before the code expires (and within the grace after it) nothing moves.
    f.clock.advance(r.codeExpiresAt - f.clock.now());
    await f.services.sweeper.tick();
    expect((await f.services.shipments.get(r.shipmentId)).state).toBe('return_requested');
    expect(await doorState(f, r.compartmentId)).toBe('reserved');
    f.clock.advance(f.config.presence.offlineGraceMs + 1);
    await f.services.sweeper.tick();
    expect((await f.services.shipments.get(r.shipmentId)).state).toBe('collected');
    expect(await doorState(f, r.compartmentId)).toBe('free');
    expect(await expiredNotices(f)).toBe(1);
    // Another pass changes nothing, and the freed door can be sold again.
    await f.services.sweeper.tick();
    expect(await expiredNotices(f)).toBe(1);
    expect((await f.services.reservations.reserve('key-after-return', { orderRef: 'c-next', lockerId: 'lk-a', size: 'M' })).body.compartmentId).toBe(r.compartmentId);
    const log = await f.store.stateLog.list('shipment', r.shipmentId);
    expect(log.at(-1)).toMatchObject({ from: 'return_requested', to: 'collected', event: 'expire_return', actor: 'sweeper' });
  });

  it('takes its door back for a drop-off the locker recorded in time but uploaded after the sweep', async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const r = await returnRequested(f, 'ord-ret-late');
    const tokenId = (await f.store.shipments.get(r.shipmentId))!.returnTokenId!;
    const droppedAt = r.codeExpiresAt - 60_000;
    // The locker is offline past the grace: the sweep gives up on the return and frees the door,
    // which the next customer's hold then takes (it is the first free M door).
    f.clock.advance(r.codeExpiresAt - f.clock.now() + f.config.presence.offlineGraceMs + 1);
    await f.services.sweeper.tick();
    expect((await f.services.shipments.get(r.shipmentId)).state).toBe('collected');
    const hold = (await f.services.reservations.reserve('key-after-late', { orderRef: 'c-next', lockerId: 'lk-a', size: 'M' })).body;
    expect(hold.compartmentId).toBe(r.compartmentId);
    // The locker comes back with the drop-off it recorded before the code expired.
    const dropped = { tokenId, compartmentId: r.compartmentId, via: 'code', parcelId: r.shipmentId };
    await f.services.ingest.ingest('lk-a', 'e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2', auditChain([{ type: 'return.dropped-off', data: dropped, at: droppedAt }]));
    expect((await f.services.shipments.get(r.shipmentId)).state).toBe('return_dropped');
    expect(await doorState(f, r.compartmentId)).toBe('occupied');
    // The hold moved to the other M door, and a courier can take the return out, which refunds it.
    const moved = (await f.store.reservations.get(hold.id))!;
    expect(moved.status).toBe('held');
    expect(moved.compartmentId).not.toBe(r.compartmentId);
    const retrieval = await f.services.parcels.retrievalToken(r.shipmentId, 'courier-1');
    expect(retrieval.compartmentId).toBe(r.compartmentId);
    expect(await f.services.parcels.retrieved(r.shipmentId, 'lk-a', { actor: 'locker:lk-a' })).toBe('applied');
    expect((await f.services.shipments.get(r.shipmentId)).state).toBe('returned');
    expect(await doorState(f, r.compartmentId)).toBe('free');
  });

  it('leaves a return that was dropped off alone', async () => {
    f = await makeBackend({ engine });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 1 }));
    const r = await returnRequested(f, 'ord-ret-drop');
    expect(await f.services.parcels.returnDropped(r.shipmentId, 'lk-a', { actor: 'locker:lk-a' })).toBe('applied');
    f.clock.advance(r.codeExpiresAt - f.clock.now() + f.config.presence.offlineGraceMs + 60_000);
    expect(await f.services.returnExpiry.expireDue()).toBe(0);
    expect((await f.services.shipments.get(r.shipmentId)).state).toBe('return_dropped');
    expect(await doorState(f, r.compartmentId)).toBe('occupied');
    expect(await expiredNotices(f)).toBe(0);
  });
});

const pgRuns = await pgSuitesRun('return expiry on two instances');

describe.skipIf(!pgRuns)('return expiry swept by two instances at once on PostgreSQL', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  it('frees each compartment once and notifies each customer once', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const a = await makeBackend({ engine: 'postgres', pgSchema: schema });
    const b = await makeBackend({ engine: 'postgres', pgSchema: schema, dir: a.dir, clock: a.clock });
    try {
      await a.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 6 }));
      const returns = [];
      for (let i = 0; i < 6; i++) returns.push(await returnRequested(a, `ord-ret-two-${String(i)}`));
      a.clock.advance(Math.max(...returns.map((r) => r.codeExpiresAt)) - a.clock.now() + a.config.presence.offlineGraceMs + 1);
      const [na, nb] = await Promise.all([a.services.returnExpiry.expireDue(), b.services.returnExpiry.expireDue()]);
      expect(na + nb).toBe(6);
      expect(await expiredNotices(a)).toBe(6);
      expect((await a.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
      for (const r of returns) expect((await b.services.shipments.get(r.shipmentId)).state).toBe('collected');
    } finally {
      await b.close();
      await a.close();
    }
  });
});
