import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { captureLogs, type LogCapture } from '@locker/sync-testing/log-capture.js';
import { auditChain } from '../testing/audit-chain.js';
import { lockerInput, makeBackend, type BackendFixture } from '../testing/backend-fixture.js';
import { paidOrder, ship } from '../testing/order-helpers.js';
import { acceptAndApply, noticesOf } from '../testing/backend-tracking.js';
import { scan } from '../testing/tracking-helpers.js';
import { testEngines } from '../testing/pg-test-db.js';
import { MAX_OCCURRED_AT_LAG_MS } from './event-time.js';

// A deposit and a pickup the locker could write only once its full disk had room again:
// `at` is the write time, `occurredAt` when the door really closed or opened. The backend
// dates the steps on the timeline by `occurredAt`, but not when it cannot be true (after its
// own record, or weeks older): then by `at`, logged. The pickup window runs from when the
// backend learns of the deposit (the customer is told then), capped by the token's expiry.

const engines = await testEngines('late door times');
const E = 'e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0e0';
const HOUR = 3_600_000;

describe.each(engines)('locker events written late on %s', (engine) => {
  let f: BackendFixture;
  let logs: LogCapture;
  let shipmentId: string;
  let tokenId: string;
  let trackingNumber: string;

  beforeEach(async () => {
    logs = captureLogs('info');
    f = await makeBackend({ engine, logger: logs.logger });
    await f.services.lockers.register(lockerInput('lk-a', 52.52, 13.405, { M: 2 }));
    const o = await paidOrder(f, 'ord-late', [{ lineId: 'l1', size: 'M' }]);
    const s = await ship(f, o.id, ['l1'], 'lk-a', 'M', 'LATE1');
    shipmentId = s.id;
    trackingNumber = s.trackingNumber;
    tokenId = (await f.store.shipments.get(s.id))?.pickupTokenId ?? '';
  });
  afterEach(() => f.close());

  const deposit = (extra: Record<string, unknown> = {}) => ({ type: 'courier.deposited', data: { tokenId, parcelId: shipmentId, compartmentId: 'M1', assignedId: 'M1', ...extra } });
  const pickup = (extra: Record<string, unknown> = {}) => ({ type: 'pickup.collected', data: { tokenId, compartmentId: 'M1', via: 'code', parcelId: shipmentId, door: 'opened', ...extra } });

  const steps = async (): Promise<Array<[string, number]>> => {
    await f.services.tracking.applier.drain();
    return (await f.store.tracking.history(trackingNumber)).map((h) => [h.event.status, h.event.eventTime]);
  };
  const deadlines = async (): Promise<{ shipment: number | undefined; notice: unknown }> => {
    const ready = (await f.store.notifications.list({ kind: 'parcel.ready_for_pickup' })).filter((n) => n.payload['shipmentId'] === shipmentId);
    return { shipment: (await f.store.shipments.get(shipmentId))?.pickupDeadline, notice: ready[0]?.payload['pickupDeadline'] };
  };

  it('dates a deposit and a pickup written after a full disk by when the doors moved', async () => {
    const written = f.clock.now();
    const closed = written - 2 * HOUR;
    const opened = written - HOUR;
    await f.services.ingest.ingest('lk-a', E, auditChain([
      { ...deposit({ occurredAt: closed }), at: written },
      { ...pickup({ occurredAt: opened }), at: written + 1 },
    ]));
    expect(await steps()).toEqual([
      ['available_for_pickup', closed],
      ['collected', opened],
    ]);
    // The window runs from when the customer is told (now), not from the door: the hours
    // the record waited on the locker are not taken from them.
    const window = f.config.pickup.windowMs;
    expect(await deadlines()).toEqual({ shipment: f.clock.now() + window, notice: f.clock.now() + window });
    expect((await f.store.shipments.get(shipmentId))?.state).toBe('collected');
    expect(logs.find('audit.occurred_at_rejected')).toEqual([]);
  });

  it('dates a record written on time, without occurredAt, by its own time as before', async () => {
    const at = f.clock.now() - 30 * 60_000;
    await f.services.ingest.ingest('lk-a', E, auditChain([
      { ...deposit(), at },
      { ...pickup(), at: at + 60_000 },
    ]));
    expect(await steps()).toEqual([
      ['available_for_pickup', at],
      ['collected', at + 60_000],
    ]);
    expect(await deadlines()).toEqual({ shipment: f.clock.now() + f.config.pickup.windowMs, notice: f.clock.now() + f.config.pickup.windowMs });
  });

  it('gives a deposit that reaches the backend after its whole pickup window a full window, not an expiry', async () => {
    const window = f.config.pickup.windowMs;
    const closed = f.clock.now() - window - HOUR;
    await f.services.ingest.ingest('lk-a', E, auditChain([{ ...deposit({ occurredAt: closed }), at: closed + 1 }]));
    expect(await steps()).toEqual([['available_for_pickup', closed]]);
    expect(await deadlines()).toEqual({ shipment: f.clock.now() + window, notice: f.clock.now() + window });
    await f.services.parcels.expireDue();
    expect((await f.store.shipments.get(shipmentId))?.state).toBe('delivered');
  });

  it('never promises a pickup deadline past the token the locker checks', async () => {
    const tokenExpiresAt = (await f.store.codeSets.entry('lk-a', tokenId))?.expiresAt ?? 0;
    expect(tokenExpiresAt).toBeGreaterThan(f.clock.now());
    // Deposited a day before the token runs out: the window would reach past it.
    f.clock.advance(tokenExpiresAt - f.clock.now() - 24 * HOUR);
    await f.services.ingest.ingest('lk-a', E, auditChain([{ ...deposit(), at: f.clock.now() }]));
    expect(await deadlines()).toEqual({ shipment: tokenExpiresAt, notice: tokenExpiresAt });
  });

  it('does not tell the customer "ready for pickup" when the deposit reaches the backend after the code it would send expired', async () => {
    const tokenExpiresAt = (await f.store.codeSets.entry('lk-a', tokenId))?.expiresAt ?? 0;
    // Deposited an hour before the token ran out, on a full disk: the record reaches us an hour after.
    const closed = tokenExpiresAt - HOUR;
    f.clock.advance(tokenExpiresAt + HOUR - f.clock.now());
    await f.services.ingest.ingest('lk-a', E, auditChain([{ ...deposit({ occurredAt: closed }), at: f.clock.now() - 60_000 }]));
    // The locker refuses that code from its expiry on: no notice with a dead code and a past
    // deadline. The parcel is expired for return at once (as the locker's own sweep will), and
    // the customer is told that.
    expect(await noticesOf(f, 'parcel.ready_for_pickup', shipmentId)).toEqual([]);
    const s = await f.store.shipments.get(shipmentId);
    expect({ state: s?.state, deadline: s?.pickupDeadline }).toEqual({ state: 'expired', deadline: tokenExpiresAt });
    expect((await noticesOf(f, 'parcel.expired', shipmentId)).map((n) => n.payload['lockerId'])).toEqual(['lk-a']);
    expect((await f.store.codeSets.entry('lk-a', tokenId))?.revokeReason).toBe('expired');
    expect(await steps()).toEqual([
      ['available_for_pickup', closed],
      ['returned_to_sender', tokenExpiresAt],
    ]);
    expect(await f.services.parcels.expireDue()).toBe(0);
  });

  it('does not believe an occurredAt after its own record or weeks before it: dated by the record, logged', async () => {
    const written = f.clock.now();
    await f.services.ingest.ingest('lk-a', E, auditChain([
      { ...deposit({ occurredAt: written + HOUR }), at: written },
      { ...pickup({ occurredAt: written - MAX_OCCURRED_AT_LAG_MS - 1 }), at: written + 1 },
    ]));
    expect(await steps()).toEqual([
      ['available_for_pickup', written],
      ['collected', written + 1],
    ]);
    expect(logs.find('audit.occurred_at_rejected').map((l) => [l['seq'], l['reason'], l['level']])).toEqual([
      [1, 'after-record', 40],
      [2, 'too-old', 40],
    ]);
  });

  // A deposit dated by its occurredAt can sort before a carrier scan applied meanwhile (the
  // courier's handheld synced "out for delivery" or "delivered" minutes after the door closed,
  // while the locker's disk was full). The doors still decide: the timeline re-folds to
  // available_for_pickup, the carrier's scan is kept for review, the customer told once.
  for (const carrierStatus of ['out_for_delivery', 'delivered', 'exception'] as const) {
    it(`takes the parcel in when the carrier's ${carrierStatus} scan is newer than the late deposit's occurredAt`, async () => {
      const written = f.clock.now();
      const closed = written - 2 * HOUR;
      await acceptAndApply(f, [scan(trackingNumber, 'in_transit', closed - HOUR), scan(trackingNumber, carrierStatus, closed + 5 * 60_000, { lockerId: 'lk-a' })]);
      expect((await f.store.tracking.projection(trackingNumber))?.projection.status).toBe(carrierStatus);
      await f.services.ingest.ingest('lk-a', E, auditChain([{ ...deposit({ occurredAt: closed }), at: written }]));
      expect(await steps()).toEqual(expect.arrayContaining([['available_for_pickup', closed]]));
      const p = (await f.store.tracking.projection(trackingNumber))?.projection;
      expect({ status: p?.status, inLocker: p?.inLocker, reached: p?.reached.includes('available_for_pickup') }).toEqual({ status: 'available_for_pickup', inLocker: true, reached: true });
      expect((await f.store.tracking.flags(trackingNumber)).map((x) => [x.from, x.to])).toEqual([['available_for_pickup', carrierStatus]]);
      expect((await f.store.shipments.get(shipmentId))?.state).toBe('delivered');
      expect(await noticesOf(f, 'parcel.ready_for_pickup', shipmentId)).toHaveLength(1);
      // The pickup afterwards moves it on as usual.
      await f.services.ingest.ingest('lk-a', E, auditChain([{ ...deposit({ occurredAt: closed }), at: written }, { ...pickup(), at: written + 60_000 }]));
      expect((await steps()).at(-1)).toEqual(['collected', written + 60_000]);
      expect((await f.store.tracking.projection(trackingNumber))?.projection.status).toBe('collected');
      expect(await noticesOf(f, 'parcel.ready_for_pickup', shipmentId)).toHaveLength(1);
    });
  }

  it('puts the time the door opened on an uncommanded-open alert written late', async () => {
    const written = f.clock.now();
    await f.services.ingest.ingest('lk-a', E, auditChain([{ type: 'door.uncommanded-open', data: { compartmentId: 'M2', occurredAt: written - HOUR }, at: written }]));
    const alerts = (await f.store.alerts.list('lk-a')).filter((a) => a.kind === 'security.uncommanded-open');
    expect(alerts.map((a) => a.details['at'])).toEqual([written - HOUR]);
  });
});
