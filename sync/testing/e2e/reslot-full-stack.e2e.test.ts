import { afterEach, describe, expect, it } from 'vitest';
import type { SimFault } from '@locker/hal/sim/compartment-model.js';
import { waitFor } from '@locker/backend/testing/wait-for.js';
import { FullStack, LOCKER } from '../full-stack.js';

// Issue 7 part 6: a re-slot after a door fault stranded the parcel. The backend, told of
// the fault, revoked the pickup token as 'reassigned' and issued a new one while the locker
// deposited under the old one: compartment occupied, no live code, shipment never
// delivered, customer never told. Each scenario runs the real runtime, sync agent and
// backend, and ends with the customer typing the code they were sent on the keypad.

let s: FullStack | undefined;

afterEach(async () => {
  await s?.close();
  s = undefined;
});

const M = ['M1', 'M2', 'M3'];

/** Courier session: credential, parcel scan, the assigned door fails, another opens. */
async function depositWithFault(stack: FullStack, shipmentId: string, assigned: string, fault: SimFault, credential: string): Promise<string> {
  stack.sim.control.injectFault(assigned, fault);
  await stack.scan(credential);
  await stack.scan(shipmentId);
  // A jam (or a stuck relay) is known only when the door-open wait runs out.
  await stack.advance(11_000);
  const real = M.find((id) => id !== assigned && stack.sim.control.doorIsOpen(id));
  if (real === undefined) throw new Error(`no other compartment opened: ${stack.lastText()}`);
  return real;
}

/** The end state every ordering must reach: delivered, one notice, the code opens `real`. */
async function expectCustomerCanCollect(stack: FullStack, ids: { orderId: string; shipmentId: string }, real: string): Promise<void> {
  const { backend } = stack;
  await waitFor(async () => (await backend.services.shipments.get(ids.shipmentId)).state === 'delivered', 'shipment delivered');
  expect((await backend.store.shipments.get(ids.shipmentId))?.compartmentId).toBe(real);
  expect((await backend.store.lockers.compartment(LOCKER, real))?.state).toBe('occupied');
  const codes = await stack.codesSent(ids.shipmentId);
  expect(codes).toHaveLength(1);
  const live = stack.store.findEntriesByParcel(ids.shipmentId).filter((e) => e.state === 'live');
  expect(live.map((e) => e.currentCompartmentId)).toEqual([real]);
  expect(stack.store.getCompartment(real)).toMatchObject({ status: 'occupied', parcelId: ids.shipmentId });

  const before = stack.pulses(real);
  await stack.type(`${codes[0] ?? ''}#`);
  await stack.advance(200);
  expect(stack.pulses(real)).toBe(before + 1);
  expect(stack.sim.control.doorIsOpen(real)).toBe(true);
  expect(stack.store.findEntriesByParcel(ids.shipmentId).some((e) => e.state === 'collected')).toBe(true);
}

const faults: Array<{ name: string; fault: SimFault }> = [
  { name: 'a jammed door', fault: 'door-jammed' },
  { name: 'a dead relay', fault: 'relay-dead' },
  { name: 'a stuck relay', fault: 'stuck-relay' },
];

describe('a re-slot after a door fault, through runtime, sync agent and backend', () => {
  for (const { name, fault } of faults) {
    it(`delivers the parcel into the compartment it is really in after ${name}, online, and the customer's code opens it`, async () => {
      s = await FullStack.start();
      const ids = await s.shipment('online');
      const real = await depositWithFault(s, ids.shipmentId, ids.compartmentId, fault, await s.courierCredential());
      // The backend hears of the fault while the door is still open.
      await waitFor(async () => (await s?.backend.store.lockers.compartment(LOCKER, ids.compartmentId))?.state === 'out_of_service', 'backend knows the fault');
      await s.advance(500);
      await s.closeDoor(real);
      expect(s.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).map((r) => r.type)).not.toContain('courier.deposited-not-live');
      await expectCustomerCanCollect(s, ids, real);
      await waitFor(async () => (await s?.backend.services.orders.get(ids.orderId))?.state === 'collected', 'order collected');
    });

    it(`delivers the parcel after ${name} while the locker is offline, once it reconnects; the code then opens it offline`, async () => {
      s = await FullStack.start();
      const ids = await s.shipment('offline');
      const credential = await s.courierCredential();
      await s.disconnect();
      const real = await depositWithFault(s, ids.shipmentId, ids.compartmentId, fault, credential);
      await s.closeDoor(real);
      s.connect();
      await waitFor(async () => (await s?.backend.services.shipments.get(ids.shipmentId))?.state === 'delivered', 'deposit reported after reconnect');
      expect((await s.backend.store.lockers.compartment(LOCKER, ids.compartmentId))?.state).toBe('out_of_service');
      await s.disconnect();
      await expectCustomerCanCollect(s, ids, real);
    });
  }

  it('keeps the delivery when the backend learns of the fault only after the deposit', async () => {
    s = await FullStack.start();
    const ids = await s.shipment('late');
    const credential = await s.courierCredential();
    // The locker's fault report is held back: the deposit reaches the backend first.
    await s.disconnect();
    const real = await depositWithFault(s, ids.shipmentId, ids.compartmentId, 'door-jammed', credential);
    await s.closeDoor(real);
    const fault = s.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).find((r) => r.type === 'compartment.out-of-service');
    expect(fault).toBeDefined();
    await s.backend.services.parcels.deposited(ids.shipmentId, LOCKER, real, Date.now(), { actor: 'test', reason: 'deposit first' });
    s.connect();
    await waitFor(async () => (await s?.backend.store.lockers.compartment(LOCKER, ids.compartmentId))?.state === 'out_of_service', 'fault reported after the deposit');
    await expectCustomerCanCollect(s, ids, real);
  });

  it("delivers a parcel the courier re-slots because it does not fit, and the customer's code opens the larger compartment", async () => {
    s = await FullStack.start();
    const ids = await s.shipment('larger');
    await s.scan(await s.courierCredential());
    await s.scan(ids.shipmentId);
    await s.advance(200);
    expect(s.sim.control.doorIsOpen(ids.compartmentId)).toBe(true);
    await s.type('C1');
    await s.advance(200);
    expect(s.sim.control.doorIsOpen('L1')).toBe(true);
    await s.closeDoor(ids.compartmentId);
    await s.closeDoor('L1');
    await expectCustomerCanCollect(s, ids, 'L1');
    // The assigned compartment is free again on both sides.
    expect(s.store.getCompartment(ids.compartmentId)?.status).toBe('free');
    await waitFor(async () => (await s?.backend.store.lockers.compartment(LOCKER, ids.compartmentId))?.state === 'free', 'assigned compartment freed');
  });
});
