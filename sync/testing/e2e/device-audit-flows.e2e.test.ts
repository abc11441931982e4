import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '@locker/hal/clock/fake-clock.js';
import type { ShipmentRecord } from '@locker/backend/store/records.js';
import { lockerInput, makeBackend, type BackendFixture } from '@locker/backend/testing/backend-fixture.js';
import { DeviceUnderTest } from '../device-under-test.js';
import { paidOrder, ship } from '@locker/backend/testing/order-helpers.js';

// Issue 7.3: every device flow runs on the real runtime, and the device's ACTUAL audit
// records (not data built by hand) go through the backend's ingest, which parses each
// one through the audit contract. Asserts the order and shipment states that follow, and
// that no record the device writes lands in the review table: a drift between what the
// device writes and what the backend reads (like return.retrieved's `parcels`) fails here.

const LOCKER = 'lk-e2e-audit';
const T0 = Date.parse('2026-11-22T10:00:00Z');
const HOUR = 3_600_000;
const compartments = [
  { id: 'S1', size: 'S' as const },
  { id: 'M1', size: 'M' as const },
  { id: 'M2', size: 'M' as const },
  { id: 'M3', size: 'M' as const },
  { id: 'L1', size: 'L' as const },
];

let clock: FakeClock;
let f: BackendFixture;
let d: DeviceUnderTest;

beforeEach(async () => {
  clock = new FakeClock({ wallMs: T0 });
  // Short-lived pickup tokens, so the expiry flow needs hours of fake time, not weeks.
  f = await makeBackend({ clock: { now: () => Math.floor(clock.now()) }, config: { pickup: { tokenTtlMs: 6 * HOUR } } });
  const { provisioning } = await f.services.lockers.register(lockerInput(LOCKER, 52.52, 13.405, { S: 1, M: 3, L: 1 }));
  d = new DeviceUnderTest({
    f,
    clock,
    lockerId: LOCKER,
    compartments,
    codePepper: Buffer.from(provisioning.codePepper, 'base64url'),
    keyring: provisioning.keyring,
  });
  await d.start();
  await d.syncCodes();
});

afterEach(async () => {
  await d.close();
  await f.close();
});

const step = (ms: number): Promise<void> => clock.advanceAsync(ms);
const shipment = async (id: string): Promise<ShipmentRecord> => (await f.store.shipments.get(id))!;
const orderState = async (shipmentId: string): Promise<string> => (await f.services.orders.get((await shipment(shipmentId)).orderId)).state;
const compartmentState = async (id: string): Promise<string | undefined> => (await f.services.lockers.get(LOCKER)).compartments.find((c) => c.id === id)?.state;
const tokenOf = async (tokenId: string): Promise<string> => (await f.store.codeSets.entry(LOCKER, tokenId))!.token;
const alertKinds = async (): Promise<string[]> => (await f.store.alerts.list(LOCKER)).map((a) => a.kind);

async function scan(text: string): Promise<void> {
  d.sim.control.scanner.scan(text);
  await step(100);
}
async function type(keys: string): Promise<void> {
  d.sim.control.keypad.press(keys);
  await step(100);
}
async function closeDoor(id: string): Promise<void> {
  d.sim.control.closeDoor(id);
  await step(1000);
}

/** A paid order shipped to the locker; its pickup code is on the device. */
async function shippedParcel(tag: string, size: 'S' | 'M' | 'L' = 'M'): Promise<{ shipmentId: string; tokenId: string }> {
  const o = await paidOrder(f, `ord-${tag}`, [{ lineId: 'l1', size, unitPriceCents: 2500 }]);
  const s = await ship(f, o.id, ['l1'], LOCKER, size, `TRK-${tag}`);
  await d.syncCodes();
  return { shipmentId: s.id, tokenId: (await shipment(s.id)).pickupTokenId! };
}

/** The courier's app: scans the credential, then the parcel, closes the door it opened. */
async function courierDeposits(shipmentId: string, reslot?: 'C1' | 'C2'): Promise<string> {
  await scan(f.services.tokens.courierToken(LOCKER, 'courier-7').token);
  await scan(shipmentId);
  const first = d.store.findEntriesByParcel(shipmentId)[0]!.compartmentId;
  if (reslot !== undefined) {
    await type(reslot);
    await closeDoor(first);
  }
  const into = compartments.map((c) => c.id).find((id) => d.sim.control.doorIsOpen(id))!;
  await closeDoor(into);
  await type('C'); // ends the courier session
  await d.uploadAudit();
  return into;
}

async function customerCode(shipmentId: string, kind: 'parcel.ready_for_pickup' | 'return.code_issued'): Promise<string> {
  // The sealed code is bound to its shipment: opening it with another id fails.
  const sealed = (await f.store.notifications.list({ kind })).filter((x) => x.payload['code'] !== undefined).at(-1)?.payload['code'];
  return f.services.codeBox.open(String(sealed), shipmentId);
}

async function expectNothingRefused(): Promise<void> {
  expect(await f.store.audit.reviewList(LOCKER)).toEqual([]);
  expect(await f.store.audit.chainBrokenAt(LOCKER)).toBeUndefined();
  expect(await f.store.audit.contiguousSeq(LOCKER, d.store.dbEpoch)).toBe(d.store.auditHighWatermark());
  expect(d.store.auditAckedWatermark()).toBe(d.store.auditHighWatermark());
}

describe("the device's actual audit records through the backend's ingest", () => {
  it('collects a parcel picked up by code: deposited, then collected, order collected', async () => {
    const { shipmentId } = await shippedParcel('code');
    const into = await courierDeposits(shipmentId);
    expect(await shipment(shipmentId)).toMatchObject({ state: 'delivered', compartmentId: into });
    await type(`${await customerCode(shipmentId, 'parcel.ready_for_pickup')}#`);
    expect(d.sim.control.doorIsOpen(into)).toBe(true);
    await closeDoor(into);
    await d.uploadAudit();
    expect((await shipment(shipmentId)).state).toBe('collected');
    expect(await orderState(shipmentId)).toBe('collected');
    expect(d.uploadedTypes()).toEqual(expect.arrayContaining(['courier.session-started', 'courier.deposited', 'courier.session-ended', 'pickup.collected', 'pickup.door-closed', 'door.open-begun', 'door.closed']));
    await expectNothingRefused();
  });

  it('collects a parcel picked up by QR code', async () => {
    const { shipmentId, tokenId } = await shippedParcel('qr');
    const into = await courierDeposits(shipmentId);
    await scan(await tokenOf(tokenId));
    await closeDoor(into);
    await d.uploadAudit();
    expect((await shipment(shipmentId)).state).toBe('collected');
    expect(await orderState(shipmentId)).toBe('collected');
    expect(d.uploadedTypes()).toContain('pickup.collected');
    await expectNothingRefused();
  });

  it('follows a courier re-slot to a larger compartment and a faulty door to another one', async () => {
    const big = await shippedParcel('reslot-big');
    const assigned = (await shipment(big.shipmentId)).compartmentId;
    const into = await courierDeposits(big.shipmentId, 'C1');
    expect(into).toBe('L1');
    expect(await shipment(big.shipmentId)).toMatchObject({ state: 'delivered', compartmentId: 'L1' });
    expect(assigned).not.toBe('L1');

    const faulty = await shippedParcel('reslot-faulty');
    const faultyAssigned = d.store.findEntriesByParcel(faulty.shipmentId)[0]!.compartmentId;
    const other = await courierDeposits(faulty.shipmentId, 'C2');
    expect(other).not.toBe(faultyAssigned);
    expect(await shipment(faulty.shipmentId)).toMatchObject({ state: 'delivered', compartmentId: other });
    expect(await compartmentState(faultyAssigned)).toBe('out_of_service');
    expect(d.uploadedTypes()).toEqual(expect.arrayContaining(['courier.reslot', 'compartment.out-of-service']));
    await expectNothingRefused();
  });

  it('flags an uncollected parcel for return, and its retrieval by a courier returns the order and starts the refund', async () => {
    const { shipmentId, tokenId } = await shippedParcel('expiry');
    const into = await courierDeposits(shipmentId);
    await step(7 * HOUR);
    // The customer comes too late: the locker expires the parcel on the spot.
    await scan(await tokenOf(tokenId));
    await d.uploadAudit();
    expect((await shipment(shipmentId)).state).toBe('expired');

    await scan((await f.services.parcels.retrievalToken(shipmentId, 'courier-7')).token);
    expect(d.sim.control.doorIsOpen(into)).toBe(true);
    await closeDoor(into);
    await d.uploadAudit();
    expect(d.uploadedTypes()).toEqual(expect.arrayContaining(['pickup.expired', 'return.retrieval-opened', 'return.retrieved']));
    expect((await shipment(shipmentId)).state).toBe('returned');
    expect(await orderState(shipmentId)).toBe('returned');
    expect(await f.store.refunds.byOrder((await shipment(shipmentId)).orderId)).toEqual([expect.objectContaining({ state: 'pending', amountCents: 2500 })]);
    await expectNothingRefused();
  });

  it('takes a customer return dropped off by code, then its retrieval starts the refund', async () => {
    const { shipmentId } = await shippedParcel('return');
    const into = await courierDeposits(shipmentId);
    await type(`${await customerCode(shipmentId, 'parcel.ready_for_pickup')}#`);
    await closeDoor(into);
    await d.uploadAudit();
    expect((await shipment(shipmentId)).state).toBe('collected');

    await f.services.parcels.requestReturn(shipmentId, undefined, { actor: 'customer', reason: 'does not fit' });
    await d.syncCodes();
    const slot = (await shipment(shipmentId)).compartmentId!;
    await type(`${await customerCode(shipmentId, 'return.code_issued')}#`);
    expect(d.sim.control.doorIsOpen(slot)).toBe(true);
    await closeDoor(slot);
    await d.uploadAudit();
    expect((await shipment(shipmentId)).state).toBe('return_dropped');

    await scan((await f.services.parcels.retrievalToken(shipmentId, 'courier-7')).token);
    await closeDoor(slot);
    await d.uploadAudit();
    expect(d.uploadedTypes()).toEqual(expect.arrayContaining(['return.dropoff-opened', 'return.dropped-off', 'return.retrieved']));
    expect((await shipment(shipmentId)).state).toBe('returned');
    expect(await orderState(shipmentId)).toBe('returned');
    expect(await f.store.refunds.byOrder((await shipment(shipmentId)).orderId)).toHaveLength(1);
    await expectNothingRefused();
  });

  it('records a technician service open and a remote open without touching any parcel', async () => {
    const { shipmentId } = await shippedParcel('service');
    const into = await courierDeposits(shipmentId);
    const issuer = f.services.keys.tokenIssuer();
    const iso = (t: number): string => new Date(t).toISOString();
    const now = clock.now();
    const service = issuer.issue(LOCKER, { jti: `svc_${randomBytes(6).toString('hex')}`, purpose: 'service', cmp: 'S1', sub: 'tech-1', iat: iso(now), nbf: iso(now), exp: iso(now + HOUR) });
    await scan(service);
    expect(d.sim.control.doorIsOpen('S1')).toBe(true);
    await closeDoor('S1');
    const remote = d.runtime.syncPort().remoteOpen('tx-remote-1', 'M3', 'customer on the phone');
    await step(100);
    expect(await remote).toEqual({ outcome: 'opened' });
    await closeDoor('M3');
    await d.uploadAudit();
    expect(d.uploadedTypes()).toEqual(expect.arrayContaining(['service.open', 'remote.open']));
    expect(await shipment(shipmentId)).toMatchObject({ state: 'delivered', compartmentId: into });
    await expectNothingRefused();
  });

  it('raises door-fault alerts and takes a jamming compartment out of service on the backend', async () => {
    d.sim.control.injectFault('M3', 'door-jammed');
    for (let i = 0; i < 3; i++) {
      void d.runtime.syncPort().remoteOpen(`tx-jam-${String(i)}`, 'M3', 'jam test');
      await step(11_000);
    }
    await d.uploadAudit();
    expect(d.uploadedTypes().filter((t) => t === 'door.jammed')).toHaveLength(3);
    expect((await alertKinds()).filter((k) => k === 'fault.door')).toHaveLength(3);
    expect(await compartmentState('M3')).toBe('out_of_service');
    await expectNothingRefused();
  });

  it('raises the keypad-lockout security alert from the device lockout', async () => {
    for (let i = 0; i < 12 && !d.runtime.health().lockout.active; i++) await type(`9${String(i).padStart(2, '0')}12345#`);
    expect(d.runtime.health().lockout.active).toBe(true);
    await d.uploadAudit();
    expect(d.uploadedTypes()).toContain('keypad.lockout');
    expect(await alertKinds()).toContain('security.keypad-lockout');
    await expectNothingRefused();
  });

  it('keeps an unknown and an invalid device record for review while the chain verifies and the ack moves past them', async () => {
    const { shipmentId } = await shippedParcel('review');
    // What a newer firmware, or a bug the compiler did not see, could put in the log.
    d.store.appendUncheckedAudit('diagnostics.dump', 'normal', { blob: 'x' });
    d.store.appendUncheckedAudit('return.retrieved', 'normal', { compartmentId: 'M1', courierTokenId: 'tok_c', parcels: [shipmentId], entries: [] });
    await courierDeposits(shipmentId);
    expect((await f.store.audit.reviewList(LOCKER)).map((r) => [r.type, r.reason])).toEqual([
      ['diagnostics.dump', 'unknown-type'],
      ['return.retrieved', 'invalid-data'],
    ]);
    expect(await f.store.audit.reviewCount(LOCKER)).toBe(2);
    // Everything after them was still acted on, and the locker may forget them.
    expect((await shipment(shipmentId)).state).toBe('delivered');
    expect(await f.store.audit.chainBrokenAt(LOCKER)).toBeUndefined();
    expect(d.store.auditAckedWatermark()).toBe(d.store.auditHighWatermark());
  });
});
