import { afterEach, describe, expect, it } from 'vitest';
import type { PanelEvent } from '../panel-events.js';
import { UnknownLockerError, type LockerView } from '../panel-port.js';
import { FakePanelPort } from './fake-panel-port.js';

const LOCKER = 'sim-berlin-1';

function compartment(view: LockerView[], id: string): LockerView['compartments'][number] {
  const found = view.find((l) => l.id === LOCKER)?.compartments.find((c) => c.id === id);
  if (found === undefined) throw new Error(`no ${id}`);
  return found;
}

describe('FakePanelPort', () => {
  let port: FakePanelPort;
  const events: PanelEvent[] = [];
  afterEach(() => {
    port.close();
    events.length = 0;
  });

  async function placeAndDeposit(): Promise<{ orderId: string; shipmentId: string; compartmentId: string }> {
    const backend = port.backend;
    const placed = await backend.placeOrder({ lockerId: LOCKER, size: 'M', customerName: 'Ada' });
    const credential = await backend.courierCredential(LOCKER);
    await port.run(LOCKER, `scan ${credential.token}`);
    await port.run(LOCKER, `scan ${placed.shipmentId}`);
    return { orderId: placed.order.id, shipmentId: placed.shipmentId, compartmentId: placed.compartmentId };
  }

  it('opens the reserved door for the courier, stores the parcel on close and notifies the customer with a code', async () => {
    port = new FakePanelPort();
    port.subscribe((e) => events.push(e), LOCKER);
    const { orderId, compartmentId } = await placeAndDeposit();
    expect(compartment(await port.lockers(), compartmentId).door).toBe('open');
    expect(events.some((e) => e.type === 'relay' && e.state === 'on' && e.compartmentId === compartmentId)).toBe(true);
    expect(await port.backend.notifications(orderId)).not.toContainEqual(expect.objectContaining({ kind: 'parcel.ready_for_pickup' }));

    await port.run(LOCKER, `close ${compartmentId}`);
    const after = compartment(await port.lockers(), compartmentId);
    expect(after).toMatchObject({ door: 'closed', status: 'occupied' });
    const ready = (await port.backend.notifications(orderId)).find((n) => n.kind === 'parcel.ready_for_pickup');
    expect(ready?.code).toMatch(/^\d{8}$/);
    expect(ready?.qrToken).toMatch(/^v4\.public\./);
  });

  it('opens the door for the right code and collects the parcel; a wrong code opens nothing', async () => {
    port = new FakePanelPort();
    const { orderId, compartmentId } = await placeAndDeposit();
    await port.run(LOCKER, `close ${compartmentId}`);
    const code = (await port.backend.notifications(orderId)).find((n) => n.code !== undefined)?.code ?? '';
    port.subscribe((e) => events.push(e), LOCKER);

    await port.run(LOCKER, 'keys 00000000#');
    expect(events.filter((e) => e.type === 'relay')).toEqual([]);
    expect(compartment(await port.lockers(), compartmentId).door).toBe('closed');

    await port.run(LOCKER, `keys ${code}#`);
    expect(compartment(await port.lockers(), compartmentId).door).toBe('open');
    expect((await port.backend.order(orderId)).shipments[0]?.state).toBe('collected');
    await port.run(LOCKER, `close ${compartmentId}`);
    expect(compartment(await port.lockers(), compartmentId).status).toBe('free');
  });

  it('raises a jammed-door alarm, takes the compartment out of service and re-slots the deposit', async () => {
    port = new FakePanelPort();
    port.subscribe((e) => events.push(e), LOCKER);
    const reserved = port.backend.placeOrder({ lockerId: LOCKER, size: 'M', customerName: 'Ada' });
    const { compartmentId, shipmentId, order: { id: placedOrderId } } = await reserved;
    await port.run(LOCKER, `fault ${compartmentId} door-jammed`);
    const credential = await port.backend.courierCredential(LOCKER);
    await port.run(LOCKER, `scan ${credential.token}`);
    await port.run(LOCKER, `scan ${shipmentId}`);

    const alarm = events.find((e) => e.type === 'alarm' && e.alarm === 'door-jammed');
    expect(alarm?.words).toMatchObject({ level: 'alarm', tag: 'ALARM' });
    const reslot = events.find((e) => e.type === 'reslot');
    expect(reslot).toMatchObject({ from: compartmentId, parcelId: shipmentId });
    const view = await port.lockers();
    expect(compartment(view, compartmentId)).toMatchObject({ status: 'out-of-service', door: 'closed', faults: ['door-jammed'] });
    const to = reslot?.type === 'reslot' ? reslot.to : '';
    expect(compartment(view, to).door).toBe('open');
    expect((await port.backend.order(placedOrderId)).shipments[0]?.compartmentId).toBe(to);
  });

  it('locks the keypad after five wrong codes and lets it go when time passes beyond the lockout', async () => {
    port = new FakePanelPort();
    for (let i = 0; i < 4; i++) await port.run(LOCKER, 'keys 11111111#');
    expect((await port.lockers()).find((l) => l.id === LOCKER)?.lockout.active).toBe(false);
    await port.run(LOCKER, 'flood 1');
    expect((await port.lockers()).find((l) => l.id === LOCKER)?.lockout.active).toBe(true);
    await port.run(LOCKER, 'clock forward 10m');
    expect((await port.lockers()).find((l) => l.id === LOCKER)?.lockout).toEqual({ active: false, failures: 0 });
  });

  it('queues audit records while the network is down and drains them when it comes back', async () => {
    port = new FakePanelPort();
    await port.run(LOCKER, 'network off');
    await port.run(LOCKER, 'keys 1#');
    const down = (await port.lockers()).find((l) => l.id === LOCKER);
    expect(down).toMatchObject({ online: false, networkUp: false, outboxBacklog: 1 });
    await port.run(LOCKER, 'network on');
    expect((await port.lockers()).find((l) => l.id === LOCKER)).toMatchObject({ online: true, outboxBacklog: 0 });
  });

  it('goes dark on a power cut and boots again on its own', async () => {
    port = new FakePanelPort({ powerOffMs: 20 });
    port.subscribe((e) => events.push(e), LOCKER);
    await port.run(LOCKER, 'power-cut');
    expect((await port.lockers()).find((l) => l.id === LOCKER)?.powered).toBe(false);
    expect(await port.run(LOCKER, 'keys 1')).toEqual(['the locker has no power']);
    await expect.poll(async () => (await port.lockers()).find((l) => l.id === LOCKER)?.powered).toBe(true);
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['power', 'online']));
  });

  it('answers a bad line with an error line and rejects an unknown locker', async () => {
    port = new FakePanelPort();
    expect(await port.run(LOCKER, 'fault Z99 door-jammed')).toEqual([expect.stringContaining('no compartment Z99')]);
    expect(await port.run(LOCKER, 'dance')).toEqual([expect.stringContaining("unknown command 'dance'")]);
    await expect(port.run('nowhere', 'status')).rejects.toBeInstanceOf(UnknownLockerError);
  });
});
