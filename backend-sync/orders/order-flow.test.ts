import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CodeBatchManifest, Keyring, codeBatchContentHash, codeSetDigestOf, openSeal } from '../shared/contract.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { RecordingPublisher, paidOrder, ship } from '../testing/order-helpers.js';

describe('orders and split shipments', () => {
  let f: BackendFixture;
  let pub: RecordingPublisher;
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { S: 2, M: 2, L: 1 }));
    pub = new RecordingPublisher();
    f.services.bridge.attach(pub);
  });
  afterEach(() => f.close());

  it('walks an order through payment and processing with every step in the state log', async () => {
    const o = await paidOrder(f, 'ord-flow-1', [{ lineId: 'l1', size: 'M' }]);
    expect(o.state).toBe('processing');
    const history = (await f.services.orders.history(o.id)).map((e) => `${e.from ?? '-'}>${e.to}:${e.actor}`);
    expect(history).toEqual(['->placed:checkout', 'placed>payment_confirmed:test', 'payment_confirmed>processing:test']);
    expect(f.payments.captures.size).toBe(1);
  });

  it('derives partially shipped, partially delivered and collected from two shipments', async () => {
    const o = await paidOrder(f, 'ord-split', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'S' }]);
    const s1 = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    const s2 = await ship(f, o.id, ['l2'], 'lk-a', 'S', 'TRK2');
    const state = async (): Promise<string> => (await f.services.orders.get(o.id)).state;
    expect(await state()).toBe('processing');
    await f.services.shipments.carrierEvent(s1.id, 'ship', { actor: 'carrier' });
    expect(await state()).toBe('partially_shipped');
    await f.services.shipments.carrierEvent(s2.id, 'ship', { actor: 'carrier' });
    expect(await state()).toBe('shipped');
    await f.services.parcels.deposited(s1.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    expect(await state()).toBe('partially_delivered');
    await f.services.parcels.deposited(s2.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    expect(await state()).toBe('delivered');
    await f.services.parcels.collected(s1.id, 'lk-a', { actor: 'locker' });
    await f.services.parcels.collected(s2.id, 'lk-a', { actor: 'locker' });
    const done = await f.services.orders.get(o.id);
    expect(done.state).toBe('collected');
    expect(done.shipments.map((s) => s.state)).toEqual(['collected', 'collected']);
    expect((await f.services.lockers.get('lk-a')).compartments.every((c) => c.state === 'free')).toBe(true);
  });

  it('issues a pickup code per shipment and publishes one signed delta the locker can verify', async () => {
    const o = await paidOrder(f, 'ord-codes', [{ lineId: 'l1', size: 'M' }]);
    await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.bridge.idle();
    expect(pub.batches).toHaveLength(1);
    const msg = pub.batches[0]!;
    expect(msg.batch).toMatchObject({ kind: 'delta', fromVersion: 0, toVersion: 1, revocations: [] });
    expect(msg.batch.upserts).toHaveLength(1);
    expect(msg.batch.upserts[0]?.codeDigest).toMatch(/^[0-9a-f]{64}$/);
    // Verified as the locker would: keyring from the batch, seal bound to the locker id.
    const rows = msg.batch.keyring.flatMap((k) => (k.op === 'trust' ? [{ kid: k.kid, publicKey: k.publicKey, revoked: false }] : []));
    const sealed = openSeal(f.ed, Keyring.fromRows(f.ed, rows), msg.manifest, 'lk-a', CodeBatchManifest, f.clock.now());
    expect(sealed.ok).toBe(true);
    if (sealed.ok) expect(sealed.claims.contentHash).toBe(codeBatchContentHash(msg.batch));
    expect(openSeal(f.ed, Keyring.fromRows(f.ed, rows), msg.manifest, 'lk-b', CodeBatchManifest, f.clock.now()).ok).toBe(false);
    const set = (await f.store.codeSets.get('lk-a'))!;
    expect(set.digest).toBe(codeSetDigestOf(msg.batch.upserts));
    // The clear code is held only until deposit; nothing else stores it.
    expect(JSON.stringify(await f.store.codeSets.liveEntries('lk-a'))).not.toMatch(/"code"/);
  });

  it('cancelling a shipment before it ships revokes its code on the locker and frees the compartment', async () => {
    const o = await paidOrder(f, 'ord-cancel', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'S' }]);
    const s1 = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await ship(f, o.id, ['l2'], 'lk-a', 'S', 'TRK2');
    await f.services.bridge.idle();
    const after = await f.services.orders.cancel(o.id, { reason: 'customer changed mind', shipmentIds: [s1.id] }, 'merchant');
    await f.services.bridge.idle();
    expect(after.shipments.find((s) => s.id === s1.id)?.state).toBe('cancelled');
    expect(after.lines.find((l) => l.lineId === 'l1')?.state).toBe('cancelled');
    expect(after.state).toBe('processing');
    const last = pub.batches.at(-1)!;
    expect(last.batch.revocations).toEqual([{ tokenId: expect.any(String) as string, reason: 'cancelled' }]);
    expect((await f.services.lockers.get('lk-a')).compartments.filter((c) => c.state === 'reserved')).toHaveLength(1);
    await f.services.orders.processRefunds();
    expect((await f.services.orders.get(o.id)).refunds).toEqual([expect.objectContaining({ amountCents: 1000, state: 'succeeded' })]);
    expect([...f.payments.refunds.values()].map((r) => r.amountCents)).toEqual([1000]);
  });

  it('cancelling one line of a two-line parcel takes that line out and leaves the parcel, its code and the other line', async () => {
    const o = await paidOrder(f, 'ord-cancel-line', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M', unitPriceCents: 2500 }]);
    const s = await ship(f, o.id, ['l1', 'l2'], 'lk-a', 'M', 'TRK1');
    await f.services.bridge.idle();
    const after = await f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l1'] }, 'merchant');
    await f.services.bridge.idle();
    expect(after.lines.map((l) => [l.lineId, l.state])).toEqual([
      ['l1', 'cancelled'],
      ['l2', 'open'],
    ]);
    expect(after.shipments.map((x) => [x.id, x.state])).toEqual([[s.id, 'created']]);
    expect(after.state).toBe('processing');
    expect(pub.batches.flatMap((b) => b.batch.revocations)).toEqual([]);
    expect(await f.store.lockers.compartment('lk-a', s.compartmentId!)).toMatchObject({ state: 'reserved' });
    await f.services.orders.processRefunds();
    expect([...f.payments.refunds.values()].map((r) => r.amountCents)).toEqual([1000]);
    // The last open line of the parcel takes the parcel with it.
    const last = await f.services.orders.cancel(o.id, { reason: 'out of stock', lineIds: ['l2'] }, 'merchant');
    await f.services.bridge.idle();
    expect(last.shipments.map((x) => x.state)).toEqual(['cancelled']);
    expect(last.state).toBe('cancelled');
    expect(pub.batches.at(-1)?.batch.revocations).toEqual([{ tokenId: expect.any(String) as string, reason: 'cancelled' }]);
    expect(await f.store.lockers.compartment('lk-a', s.compartmentId!)).toMatchObject({ state: 'free' });
    await f.services.orders.processRefunds();
    expect([...f.payments.refunds.values()].map((r) => r.amountCents).sort((a, b) => a - b)).toEqual([1000, 2500]);
  });

  it('refuses to cancel a line whose parcel has shipped, even when the parcel keeps other lines', async () => {
    const o = await paidOrder(f, 'ord-cancel-line-2', [{ lineId: 'l1', size: 'M' }, { lineId: 'l2', size: 'M' }]);
    const s = await ship(f, o.id, ['l1', 'l2'], 'lk-a', 'M', 'TRK1');
    await f.services.shipments.carrierEvent(s.id, 'ship', { actor: 'carrier' });
    await expect(f.services.orders.cancel(o.id, { reason: 'late', lineIds: ['l1'] }, 'merchant')).rejects.toThrow(/left the warehouse/);
    expect((await f.services.orders.get(o.id)).lines.map((l) => l.state)).toEqual(['open', 'open']);
  });

  it('refuses to cancel a shipment that has shipped, and cancels a whole unshipped order with its holds', async () => {
    const o = await paidOrder(f, 'ord-cancel-2', [{ lineId: 'l1', size: 'M' }]);
    const s1 = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.shipments.carrierEvent(s1.id, 'ship', { actor: 'carrier' });
    await expect(f.services.orders.cancel(o.id, { reason: 'late' }, 'merchant')).rejects.toThrow(/left the warehouse/);
    const hold = (await f.services.reservations.reserve('hold-key-xyz1', { orderRef: 'ref-2', lockerId: 'lk-a', size: 'L' })).body;
    const o2 = (
      await f.services.orders.place('ord-cancel-3', {
        orderRef: 'ref-2',
        customer: { name: 'Bo', phone: '+49 170 1234567' },
        currency: 'EUR',
        lines: [{ lineId: 'l1', sku: 'x', quantity: 2, unitPriceCents: 500, size: 'L' }],
        reservationIds: [hold.id],
      })
    ).body;
    const cancelled = await f.services.orders.cancel(o2.id, { reason: 'fraud check' }, 'merchant');
    expect(cancelled.state).toBe('cancelled');
    expect((await f.services.reservations.get(hold.id)).status).toBe('released');
  });

  it('lets the compartments of a re-slotted and of a collected parcel be reserved again', async () => {
    const o = await paidOrder(f, 'ord-reslot', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    expect(s.compartmentId).toBe('M1');
    // The courier put the parcel into M2 instead of the assigned M1.
    expect(await f.services.parcels.deposited(s.id, 'lk-a', 'M2', f.clock.now(), { actor: 'locker' })).toBe('applied');
    const hold = await f.services.reservations.reserve('key-after-reslot', { orderRef: 'next-1', lockerId: 'lk-a', size: 'M' });
    expect(hold.body.compartmentId).toBe('M1');
    await f.services.reservations.release(hold.body.id, 'checkout', 'abandoned');
    expect(await f.services.parcels.collected(s.id, 'lk-a', { actor: 'locker' })).toBe('applied');
    const states = (await f.services.lockers.get('lk-a')).compartments.filter((c) => c.size === 'M').map((c) => c.state);
    expect(states).toEqual(['free', 'free']);
    for (const key of ['key-after-pickup-1', 'key-after-pickup-2']) {
      expect((await f.services.reservations.reserve(key, { orderRef: key, lockerId: 'lk-a', size: 'M' })).body.status).toBe('held');
    }
  });

  it('leaves the assigned compartment to the reservation that took it when the courier re-slots a parcel whose own reservation ended', async () => {
    const o = await paidOrder(f, 'ord-reslot-late', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    const own = (await f.services.shipments.get(s.id)).reservationId;
    expect(s.compartmentId).toBe('M1');
    expect(own).toBeDefined();
    // Its reservation ended (an operator released it), and M1 went to the next order's parcel.
    expect(await f.store.reservations.release(own!, 'released', f.clock.now())).toBe(true);
    const o2 = await paidOrder(f, 'ord-took-m1', [{ lineId: 'l1', size: 'M' }]);
    const next = await f.services.shipments.get((await ship(f, o2.id, ['l1'], 'lk-a', 'M', 'TRK2')).id);
    expect(next.compartmentId).toBe('M1');
    expect(await f.services.parcels.deposited(s.id, 'lk-a', 'M2', f.clock.now(), { actor: 'locker' })).toBe('applied');
    expect(await f.store.lockers.compartment('lk-a', 'M1')).toMatchObject({ state: 'reserved', reservationId: next.reservationId });
    expect(await f.store.lockers.compartment('lk-a', 'M2')).toMatchObject({ state: 'occupied' });
  });

  it('expires a parcel after its pickup window, revokes its code and flags it for return', async () => {
    const o = await paidOrder(f, 'ord-expire', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    const delivered = await f.services.shipments.get(s.id);
    expect(delivered.pickupDeadline).toBe(f.clock.now() + 72 * 3_600_000);
    await f.services.shipments.extendPickup(s.id, 24 * 3_600_000, { actor: 'customer' });
    f.clock.advance(72 * 3_600_000 + 1);
    expect(await f.services.parcels.expireDue()).toBe(0);
    f.clock.advance(24 * 3_600_000);
    expect(await f.services.parcels.expireDue()).toBe(1);
    expect((await f.services.shipments.get(s.id)).state).toBe('expired');
    expect(await f.store.codeSets.liveEntries('lk-a')).toHaveLength(0);
    const token = await f.services.parcels.retrievalToken(s.id, 'courier-7');
    expect(token.token.startsWith('v4.public.')).toBe(true);
    await f.services.parcels.retrieved(s.id, 'lk-a', { actor: 'locker' });
    expect((await f.services.orders.get(o.id)).state).toBe('returned');
  });

  it('expires a parcel once when two sweeps race over it', async () => {
    const o = await paidOrder(f, 'ord-expire-race', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    f.clock.advance(72 * 3_600_000 + 1);
    const counts = await Promise.all([f.services.parcels.expireDue(), f.services.parcels.expireDue()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
    const log = (await f.store.stateLog.list('shipment', s.id)).filter((e) => e.to === 'expired');
    expect(log).toHaveLength(1);
    const set = (await f.store.codeSets.get('lk-a'))!;
    // One add and one revocation: two versions, not three.
    expect(set.version).toBe(2);
  });

  it('runs a customer return: drop-off code, drop-off, courier retrieval and refund', async () => {
    const o = await paidOrder(f, 'ord-return', [{ lineId: 'l1', size: 'M', unitPriceCents: 2500 }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    await f.services.parcels.deposited(s.id, 'lk-a', undefined, f.clock.now(), { actor: 'locker' });
    await f.services.parcels.collected(s.id, 'lk-a', { actor: 'locker' });
    await f.services.parcels.requestReturn(s.id, undefined, { actor: 'customer', reason: 'wrong size' });
    const codeNote = await f.store.notifications.list({ kind: 'return.code_issued' });
    expect(codeNote).toHaveLength(1);
    expect(f.services.codeBox.open(String(codeNote[0]?.payload['code']), s.id)).toMatch(/^\d{8}$/);
    expect((await f.store.codeSets.liveEntries('lk-a')).filter((e) => e.kind === 'return-dropoff')).toHaveLength(1);
    expect(await f.services.parcels.returnDropped(s.id, 'lk-a', { actor: 'locker' })).toBe('applied');
    expect(await f.services.parcels.retrieved(s.id, 'lk-a', { actor: 'locker' })).toBe('applied');
    await f.services.orders.processRefunds();
    const done = await f.services.orders.get(o.id);
    expect(done.state).toBe('returned');
    expect(done.refunds).toEqual([expect.objectContaining({ amountCents: 2500, state: 'succeeded' })]);
  });

  it('pays a refund once when the instance that took it died mid-call and its lease lapsed', async () => {
    const o = await paidOrder(f, 'ord-lease', [{ lineId: 'l1', size: 'M', unitPriceCents: 1200 }]);
    const capture = [...f.payments.captures.values()][0];
    if (capture?.ok !== true) throw new Error('order was not paid');
    await f.store.refunds.insert({ id: 'ref-lease-1', orderId: o.id, amountCents: 1200, state: 'pending', reason: 'test', createdAt: f.clock.now() });
    // Another instance takes the refund, asks the provider to pay it, and dies before settling.
    expect(await f.store.refunds.claimPending(f.clock.now(), 60_000, 50)).toHaveLength(1);
    await f.payments.refund({ paymentRef: capture.providerRef, amountCents: 1200, currency: 'EUR', idempotencyKey: 'refund:ref-lease-1' });
    // While its lease holds, this instance leaves the refund alone.
    expect(await f.services.orders.processRefunds()).toBe(0);
    f.clock.advance(60_000);
    expect(await f.services.orders.processRefunds()).toBe(1);
    expect(await f.services.orders.processRefunds()).toBe(0);
    expect((await f.services.orders.get(o.id)).refunds).toEqual([expect.objectContaining({ id: 'ref-lease-1', state: 'succeeded' })]);
    // The provider moved the money once: the retry carried the same idempotency key.
    expect(f.payments.refunds.size).toBe(1);
  });
});
