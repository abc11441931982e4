import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GENESIS_PREV_HASH, auditRecordHash, type AuditRecordWire } from '../shared/contract.js';
import { captureLogs } from '@locker/sync-testing/log-capture.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';

/** A hash-chained run of records as a locker would upload them. */
function chain(events: Array<{ type: string; data: Record<string, unknown>; lane?: 'priority' | 'normal' }>, at: number): AuditRecordWire[] {
  let prev = GENESIS_PREV_HASH;
  return events.map((e, i) => {
    const seq = i + 1;
    const dataJson = JSON.stringify(e.data);
    const hash = auditRecordHash(prev, seq, at + i, e.type, dataJson);
    const rec: AuditRecordWire = { seq, at: at + i, type: e.type, lane: e.lane ?? 'normal', dataJson, prevHash: prev, hash };
    prev = hash;
    return rec;
  });
}

/** The locker's database epoch (docs/decisions/0023). */
const E = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';

describe('audit ingest', () => {
  let f: BackendFixture;
  let shipmentId: string;
  let tokenId: string;
  const ingest = (lockerId: string, epoch: string, records: AuditRecordWire[], ackedSeq?: number) => f.services.ingest.ingest(lockerId, epoch, records, ackedSeq);
  const shipment = async (id: string) => (await f.store.shipments.get(id))!;
  const alertKinds = async (lockerId: string) => (await f.store.alerts.list(lockerId)).map((a) => a.kind);
  beforeEach(async () => {
    f = await makeBackend();
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(f, 'ord-audit', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'TRK1');
    shipmentId = s.id;
    tokenId = (await shipment(s.id)).pickupTokenId!;
  });
  afterEach(() => f.close());

  const events = (): AuditRecordWire[] =>
    chain(
      [
        { type: 'device.started', data: { liveCodes: 1, clockFloor: 0 } },
        { type: 'courier.deposited', data: { tokenId, parcelId: shipmentId, compartmentId: 'M1', assignedId: 'M1' } },
        { type: 'pickup.collected', data: { tokenId, compartmentId: 'M1', via: 'code', parcelId: shipmentId, door: 'opened' } },
      ],
      f.clock.now(),
    );

  it('maps deposit and pickup to delivered then collected, notifying the customer once with the code', async () => {
    const result = await ingest('lk-a', E, events());
    expect(result).toMatchObject({ contiguousSeq: 3, inserted: 3, duplicates: 0, chainBreaks: [] });
    expect((await f.services.shipments.get(shipmentId)).state).toBe('collected');
    const ready = await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' });
    expect(ready).toHaveLength(1);
    expect(f.services.codeBox.open(String(ready[0]?.payload['code']), shipmentId)).toMatch(/^\d{8}$/);
  });

  it('puts the door times on the tracking timeline, however late the locker uploads them', async () => {
    const doors = f.clock.now();
    const records = events();
    f.clock.advance(3 * 3_600_000); // the locker was offline for three hours
    await ingest('lk-a', E, records);
    await f.services.tracking.applier.drain();
    const trackingNumber = (await shipment(shipmentId)).trackingNumber;
    const steps = (await f.store.tracking.history(trackingNumber)).map((h) => [h.event.status, h.event.eventTime]);
    expect(steps).toEqual([
      ['available_for_pickup', doors + 1],
      ['collected', doors + 2],
    ]);
    const served = await f.store.tracking.readModel(trackingNumber);
    expect(JSON.parse(served?.docJson ?? '{}')).toMatchObject({ status: 'collected', lastEventAt: doors + 2, lockerId: 'lk-a' });
  });

  it('starts the refund when the locker reports return.retrieved with the parcel it took out (the contract names it parcelId)', async () => {
    const recs = chain(
      [
        { type: 'courier.deposited', data: { tokenId, parcelId: shipmentId, compartmentId: 'M1', assignedId: 'M1' } },
        { type: 'pickup.expired', data: { tokenId, parcelId: shipmentId, compartmentId: 'M1', returnNeeded: true, by: 'sweep' } },
        // Exactly what device/runtime/courier-flow.ts writes on a retrieval.
        { type: 'return.retrieved', data: { compartmentId: 'M1', courierTokenId: 'tok_courier', parcelId: shipmentId, entries: [tokenId] } },
      ],
      f.clock.now(),
    );
    const result = await ingest('lk-a', E, recs);
    expect(result).toMatchObject({ contiguousSeq: 3, keptForReview: [] });
    const s = await shipment(shipmentId);
    expect(s.state).toBe('returned');
    expect((await f.services.orders.get(s.orderId)).state).toBe('returned');
    expect(await f.store.refunds.byOrder(s.orderId)).toEqual([expect.objectContaining({ state: 'pending', amountCents: 1000 })]);
  });

  it('keeps an unknown or invalid event for review, counts and logs it, and still stores, chains and acks it', async () => {
    const logs = captureLogs('info');
    await f.close();
    f = await makeBackend({ logger: logs.logger });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const recs = chain(
      [
        { type: 'device.started', data: { liveCodes: 0, clockFloor: 0 } },
        { type: 'diagnostics.dump', data: { blob: 'x' } },
        // The old mismatch: `parcels` instead of the contract's parcelId.
        { type: 'return.retrieved', data: { compartmentId: 'M1', courierTokenId: 'tok_c', parcels: ['shp_1'], entries: [] } },
        { type: 'door.closed', data: { compartmentId: 'M1', openMs: 900, commanded: true } },
      ],
      f.clock.now(),
    );
    const result = await ingest('lk-a', E, recs);
    expect(result).toMatchObject({ contiguousSeq: 4, inserted: 4, chainBreaks: [], keptForReview: [2, 3] });
    expect(await f.store.audit.chainBrokenAt('lk-a')).toBeUndefined();
    expect((await f.store.audit.get('lk-a', E, 3))?.dataJson).toBe(recs[2]!.dataJson);
    const review = await f.store.audit.reviewList('lk-a');
    expect(review).toEqual([
      expect.objectContaining({ seq: 2, type: 'diagnostics.dump', reason: 'unknown-type' }),
      expect.objectContaining({ seq: 3, type: 'return.retrieved', reason: 'invalid-data' }),
    ]);
    expect(review[1]?.detail).toContain('parcelId');
    expect(await f.store.audit.reviewCount('lk-a')).toBe(2);
    expect(logs.find('audit.event_rejected').map((l) => l['seq'])).toEqual([2, 3]);
    // A replay neither counts nor logs them again.
    expect(await ingest('lk-a', E, recs)).toMatchObject({ duplicates: 4, keptForReview: [] });
    expect(await f.store.audit.reviewCount('lk-a')).toBe(2);
    expect(logs.find('audit.event_rejected')).toHaveLength(2);
  });

  it('changes nothing when the same upload arrives again', async () => {
    await ingest('lk-a', E, events());
    const orderId = (await shipment(shipmentId)).orderId;
    const before = (await f.services.orders.history(orderId)).length;
    const notificationsBefore = (await f.store.notifications.list()).length;
    const again = await ingest('lk-a', E, events());
    expect(again).toMatchObject({ contiguousSeq: 3, inserted: 0, duplicates: 3, chainBreaks: [] });
    expect(await f.services.orders.history(orderId)).toHaveLength(before);
    expect(await f.store.notifications.list()).toHaveLength(notificationsBefore);
    expect(await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' })).toHaveLength(1);
  });

  it('acts on each record once when the same upload is handled twice at the same time', async () => {
    const [a, b] = await Promise.all([ingest('lk-a', E, events()), ingest('lk-a', E, events())]);
    expect([a.inserted, b.inserted].sort()).toEqual([0, 3]);
    expect((await f.services.shipments.get(shipmentId)).state).toBe('collected');
    expect(await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' })).toHaveLength(1);
    expect(await f.store.notifications.list({ kind: 'parcel.collected' })).toHaveLength(1);
  });

  it('acts on reordered records in sequence order only once the gap is filled', async () => {
    const [r1, r2, r3] = events();
    const first = await ingest('lk-a', E, [r3!, r1!]);
    expect(first.contiguousSeq).toBe(1);
    expect(first.alsoSeqs).toEqual([3]);
    // The pickup (seq 3) must not run before the deposit (seq 2).
    expect((await f.services.shipments.get(shipmentId)).state).toBe('created');
    const second = await ingest('lk-a', E, [r2!]);
    expect(await f.store.audit.contiguousSeq('lk-a', E)).toBe(3);
    // The ack vouches only up to the upload's own record (seq 3 was acknowledged already).
    expect(second.contiguousSeq).toBe(2);
    expect((await f.services.shipments.get(shipmentId)).state).toBe('collected');
    expect(await f.store.notifications.list({ kind: 'parcel.collected' })).toHaveLength(1);
  });

  it('starts the contiguous prefix at the locker acked watermark when earlier records are gone', async () => {
    const [, , r3] = events();
    const result = await ingest('lk-a', E, [r3!], 2);
    expect(result.contiguousSeq).toBe(3);
    expect(result.chainBreaks).toEqual([]);
  });

  it('flags a broken chain and raises an alert, keeping the records', async () => {
    const recs = events();
    const tampered = { ...recs[1]!, dataJson: recs[1]!.dataJson.replace('M1', 'M2') };
    const result = await ingest('lk-a', E, [recs[0]!, tampered, recs[2]!]);
    expect(result.chainBreaks).toEqual([2]);
    expect(await f.store.audit.chainBrokenAt('lk-a', E)).toBe(2);
    expect(await alertKinds('lk-a')).toContain('audit.chain-break');
  });

  it('never acknowledges a record that conflicts with the stored one at its seq, and raises an alert', async () => {
    const recs = events();
    await ingest('lk-a', E, recs);
    const other = chain([{ type: 'device.started', data: { forged: true } }, { type: 'device.started', data: { forged: 2 } }], f.clock.now());
    const result = await ingest('lk-a', E, other);
    expect(result).toMatchObject({ conflicts: [1, 2], inserted: 0, contiguousSeq: 0, alsoSeqs: [] });
    // The stored records stay; the conflicting ones are kept aside as evidence.
    expect((await f.store.audit.get('lk-a', E, 1))?.hash).toBe(recs[0]!.hash);
    expect(await f.store.audit.hasConflict('lk-a', E, 1)).toBe(true);
    expect(await f.store.audit.hasConflict('lk-a', E, 2)).toBe(true);
    expect(await f.store.audit.hasConflict('lk-a', E, 3)).toBe(false);
    expect(await f.store.audit.chainBrokenAt('lk-a', E)).toBe(1);
    const breaks = (await f.store.alerts.list('lk-a')).filter((a) => a.kind === 'audit.chain-break').map((a) => a.details);
    expect(breaks.sort((a, b) => Number(a['seq']) - Number(b['seq']))).toEqual([
      { epoch: E, seq: 1, reason: 'conflicting-record' },
      { epoch: E, seq: 2, reason: 'conflicting-record' },
    ]);
    // A later upload of the genuine seq 3 is acked on its own, never through a prefix that covers 1.
    expect(await ingest('lk-a', E, [recs[2]!])).toMatchObject({ contiguousSeq: 0, alsoSeqs: [3] });
  });

  it('alerts each kind of break at a seq once, and logs a resent break at error level once', async () => {
    const logs = captureLogs('debug');
    const g = await makeBackend({ logger: logs.logger });
    try {
      await g.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
      const recs = chain([{ type: 'device.started', data: { liveCodes: 1 } }, { type: 'device.started', data: { liveCodes: 2 } }], g.clock.now());
      // Seq 2 arrives altered: a hash-chain break there.
      const tampered = { ...recs[1]!, dataJson: recs[1]!.dataJson.replace('2', '3') };
      await g.services.ingest.ingest('lk-a', E, [recs[0]!, tampered]);
      // Then a record that is not the stored one at seq 2 (another database's): a conflict
      // at the same seq, another kind of break, its own alert. Resent three times.
      const other = chain([{ type: 'device.started', data: { x: 1 } }, { type: 'device.started', data: { forged: 2 } }], g.clock.now());
      for (let i = 0; i < 3; i++) await g.services.ingest.ingest('lk-a', E, [other[1]!]);
      const breaks = (await g.store.alerts.list('lk-a')).filter((a) => a.kind === 'audit.chain-break').map((a) => a.details['reason']);
      expect(breaks.sort()).toEqual(['conflicting-record', 'hash-chain']);
      expect(logs.find('audit.chain_break').map((l) => l['reason'])).toEqual(['hash-chain', 'conflicting-record']);
      expect(logs.find('audit.chain_break').every((l) => l.level === 50)).toBe(true);
      expect(logs.find('audit.chain_break_repeated')).toHaveLength(2);
    } finally {
      await g.close();
    }
  });

  it('keeps the chain of a new database epoch apart: numbered from 1 again, stored, acked, no alert', async () => {
    const recs = events();
    await ingest('lk-a', E, recs);
    const fresh = 'f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1';
    const reset = chain([{ type: 'device.started', data: { fresh: true } }, { type: 'device.started', data: { fresh: 2 } }], f.clock.now() + 1000);
    const result = await ingest('lk-a', fresh, reset);
    expect(result).toMatchObject({ contiguousSeq: 2, inserted: 2, duplicates: 0, chainBreaks: [], conflicts: [] });
    expect(await f.store.audit.count('lk-a', fresh)).toBe(2);
    expect(await f.store.audit.count('lk-a', E)).toBe(3);
    expect((await f.store.audit.get('lk-a', E, 1))?.hash).toBe(recs[0]!.hash);
    expect(await f.store.audit.contiguousSeq('lk-a', E)).toBe(3);
    expect(await f.store.audit.chainBrokenAt('lk-a')).toBeUndefined();
    expect((await alertKinds('lk-a')).filter((k) => k === 'audit.chain-break')).toEqual([]);
  });

  it('raises one security alert per lockout or uncommanded open, however often it is replayed', async () => {
    const recs = chain(
      [
        { type: 'keypad.lockout', data: { reason: 'consecutive', lockoutMs: 60000 }, lane: 'priority' },
        { type: 'door.uncommanded-open', data: { compartmentId: 'M2' }, lane: 'priority' },
      ],
      f.clock.now(),
    );
    await ingest('lk-a', E, recs);
    await ingest('lk-a', E, recs);
    expect((await alertKinds('lk-a')).sort()).toEqual(['security.keypad-lockout', 'security.uncommanded-open']);
  });

  it('tells an operator when the keypad odds degrade or a reader sends garbage, once per record', async () => {
    const recs = chain(
      [
        { type: 'keypad.odds-degraded', data: { liveCodes: 1200, awaitingDeposit: 300, maxLiveCodes: 1000 }, lane: 'priority' },
        { type: 'input.rejection-burst', data: { source: 'scanner', reason: 'frame-too-long', threshold: 20, windowMs: 60000 } },
      ],
      f.clock.now(),
    );
    await ingest('lk-a', E, recs);
    await ingest('lk-a', E, recs);
    const alerts = await f.store.alerts.list('lk-a');
    expect(alerts.map((a) => a.kind).sort()).toEqual(['fault.input-rejection-burst', 'security.keypad-odds-degraded']);
    expect(alerts.find((a) => a.kind === 'security.keypad-odds-degraded')?.details).toMatchObject({ liveCodes: 1200, awaitingDeposit: 300, maxLiveCodes: 1000 });
    expect(alerts.find((a) => a.kind === 'fault.input-rejection-burst')?.details).toMatchObject({ source: 'scanner', reason: 'frame-too-long' });
  });

  it('raises an alert again for a locker whose database was replaced (its seqs start over)', async () => {
    const degraded = [{ type: 'keypad.odds-degraded', data: { liveCodes: 1200, awaitingDeposit: 300, maxLiveCodes: 1000 }, lane: 'priority' as const }];
    await ingest('lk-a', E, chain(degraded, f.clock.now()));
    f.clock.advance(30 * 86_400_000);
    await ingest('lk-a', 'e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2', chain(degraded, f.clock.now()));
    expect((await alertKinds('lk-a')).filter((k) => k === 'security.keypad-odds-degraded')).toHaveLength(2);
  });

  it('moves a checkout hold off a compartment that fails, keeping its reservation id', async () => {
    await f.services.lockers.register(lockerInput('lk-b', 52.5, 13.4, { M: 2 }));
    const hold = (await f.services.reservations.reserve('hold-fault-1', { orderRef: 'c-f', lockerId: 'lk-b', size: 'M' })).body;
    const recs = chain([{ type: 'compartment.out-of-service', data: { compartmentId: hold.compartmentId, reason: 'jammed' }, lane: 'priority' }], f.clock.now());
    await ingest('lk-b', E, recs);
    const after = await f.services.reservations.get(hold.id);
    expect(after.status).toBe('held');
    expect(after.compartmentId).not.toBe(hold.compartmentId);
    const compartments = (await f.services.lockers.get('lk-b')).compartments;
    expect(compartments.find((c) => c.id === after.compartmentId)?.state).toBe('held');
    expect(compartments.find((c) => c.id === hold.compartmentId)?.state).toBe('out_of_service');
  });

  it('takes a faulty compartment out of service and moves the reservation, keeping the parcel token (decision 0024)', async () => {
    const s = await shipment(shipmentId);
    const oldEntry = (await f.store.codeSets.entry('lk-a', s.pickupTokenId!))!;
    const recs = chain([{ type: 'compartment.out-of-service', data: { compartmentId: s.compartmentId, reason: 'jammed', failures: 3 }, lane: 'priority' }], f.clock.now());
    await ingest('lk-a', E, recs);
    const after = await shipment(shipmentId);
    // Another compartment of the size is held so it is not sold meanwhile...
    expect(after.compartmentId).not.toBe(s.compartmentId);
    // ...but the token is neither revoked nor re-issued: the locker re-slots and reports where.
    expect(after.pickupTokenId).toBe(s.pickupTokenId);
    const live = await f.store.codeSets.liveEntries('lk-a');
    expect(live).toHaveLength(1);
    expect(live[0]?.tokenId).toBe(oldEntry.tokenId);
    expect(live[0]?.codeDigest).toBe(oldEntry.codeDigest);
    expect((await f.services.lockers.get('lk-a')).compartments.find((c) => c.id === s.compartmentId)?.state).toBe('out_of_service');
  });
});
