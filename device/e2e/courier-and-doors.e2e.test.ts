import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

let h: Harness;

afterEach(async () => {
  await h.close();
});

async function courierAt(): Promise<void> {
  h = new Harness();
  await h.start();
  await h.scan(h.token('courier', { sub: 'courier-1' }).token);
}

describe('courier deposit', () => {
  it("shows 'Courier session ended.' once when the courier cancels, then the idle prompt", async () => {
    await courierAt();
    const before = h.texts().length;
    await h.type('C');
    expect(h.texts().slice(before).filter((t) => t === 'Courier session ended.')).toHaveLength(1);
    await h.advance(9_000);
    expect(h.lastText()).not.toBe('Courier session ended.');
    expect(h.auditTypes().filter((t) => t === 'courier.session-ended')).toHaveLength(1);
  });

  it("shows 'Courier session ended.' once when the session times out", async () => {
    await courierAt();
    const before = h.texts().length;
    await h.advance(300_000);
    expect(h.texts().slice(before).filter((t) => t === 'Courier session ended.')).toHaveLength(1);
  });

  it('re-slots a parcel that does not fit into a larger free compartment and records it', async () => {
    await courierAt();
    const entry = h.addParcel({ parcelId: 'BIG1', compartmentId: 'A02', code: '10203040', size: 'M' });
    await h.scan('BIG1');
    await h.advance(100);
    expect(h.control.doorIsOpen('A02')).toBe(true);
    await h.type('C1');
    await h.advance(100);
    expect(h.pulses('A04')).toBe(1);
    await h.closeDoor('A02');
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('awaiting-deposit');
    await h.closeDoor('A04');
    expect(h.store.findEntryByTokenId(entry.tokenId)).toMatchObject({ state: 'live', currentCompartmentId: 'A04' });
    expect(h.store.getCompartment('A04')).toMatchObject({ status: 'occupied', parcelId: 'BIG1' });
    expect(h.store.getCompartment('A02')?.status).toBe('free');
    expect(h.auditTypes()).toContain('courier.reslot');
  });

  it('takes a faulty door out of service and opens another of the same size', async () => {
    await courierAt();
    const entry = h.addParcel({ parcelId: 'P2', compartmentId: 'A02', code: '10203041', size: 'M' });
    await h.scan('P2');
    await h.advance(100);
    await h.type('C2');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(1);
    expect(h.store.getCompartment('A02')?.status).toBe('out-of-service');
    await h.closeDoor('A02');
    await h.closeDoor('A03');
    expect(h.store.findEntryByTokenId(entry.tokenId)?.currentCompartmentId).toBe('A03');
  });

  it('uses another free compartment when the assigned one is occupied', async () => {
    await courierAt();
    const other = h.addParcel({ parcelId: 'P-old', compartmentId: 'A02', code: '10203042' });
    h.deposit(other);
    h.addParcel({ parcelId: 'P3', compartmentId: 'A02', code: '10203043' });
    await h.scan('P3');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.pulses('A03')).toBe(1);
  });

  it('deposits several parcels in one session', async () => {
    await courierAt();
    h.addParcel({ parcelId: 'M1', compartmentId: 'A02', code: '10203044' });
    h.addParcel({ parcelId: 'M2', compartmentId: 'A03', code: '10203045' });
    await h.scan('M1');
    await h.advance(100);
    await h.closeDoor('A02');
    await h.scan('M2');
    await h.advance(100);
    await h.closeDoor('A03');
    expect(h.store.liveCodeCount()).toBe(2);
  });

  it('opens another compartment when the assigned door is jammed', async () => {
    await courierAt();
    h.control.injectFault('A02', 'door-jammed');
    h.addParcel({ parcelId: 'J1', compartmentId: 'A02', code: '10203046' });
    await h.scan('J1');
    await h.advance(11_000);
    expect(h.auditTypes()).toContain('door.jammed');
    expect(h.pulses('A03')).toBe(1);
  });

  it('refuses a parcel the locker does not expect', async () => {
    await courierAt();
    await h.scan('UNKNOWN-PARCEL');
    expect(h.pulses()).toBe(0);
    expect(h.lastText()).toContain('not expected');
  });
});

describe('door supervision', () => {
  it('records a jammed door and takes it out of service after repeated failures', async () => {
    h = new Harness();
    await h.start();
    h.control.injectFault('A04', 'door-jammed');
    for (let i = 0; i < 3; i++) {
      const { token } = h.token('pickup', { cmp: 'A04', par: `PJ${String(i)}` });
      await h.scan(token);
      await h.advance(11_000);
    }
    expect(h.auditTypes().filter((t) => t === 'door.jammed')).toHaveLength(3);
    expect(h.store.getCompartment('A04')?.status).toBe('out-of-service');
    expect(h.auditTypes()).toContain('compartment.out-of-service');
  });

  it('raises the left-open alarm and repeats it until the door closes', async () => {
    h = new Harness();
    await h.start();
    const { token } = h.token('pickup', { cmp: 'A01', par: 'PL' });
    await h.scan(token);
    await h.advance(100);
    await h.advance(120_000 + 60_000 + 100);
    expect(h.control.indicator.beeps().filter((b) => b === 'alarm').length).toBeGreaterThanOrEqual(2);
    expect(h.auditTypes().filter((t) => t === 'door.left-open')).toHaveLength(1);
    await h.closeDoor('A01');
    expect(h.auditTypes()).toContain('door.closed');
  });

  it('reports a door opened without a command as a priority audit event with an alarm', async () => {
    h = new Harness();
    await h.start();
    h.control.injectFault('A03', 'forced-open');
    await h.advance(200);
    const priority = h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 100 }).map((r) => r.type);
    expect(priority).toContain('door.uncommanded-open');
    expect(h.control.indicator.beeps()).toContain('alarm');
  });

  it('still pulses a door that is already open and records it', async () => {
    h = new Harness();
    await h.start();
    const entry = h.addParcel({ parcelId: 'AO', compartmentId: 'A02', code: '77778888' });
    h.deposit(entry);
    h.control.injectFault('A02', 'sensor-stuck-closed');
    h.control.clearFault('A02');
    h.control.injectFault('A02', 'forced-open');
    await h.advance(200);
    await h.type('77778888#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.auditTypes()).toContain('door.already-open');
    expect(h.store.findEntryByTokenId(entry.tokenId)?.state).toBe('collected');
  });

  it('still pulses when the door sensor is dead and records the outcome as unknown', async () => {
    h = new Harness();
    await h.start();
    h.control.injectFault('A05', 'sensor-dead');
    await h.advance(200);
    const { token } = h.token('pickup', { cmp: 'A05', par: 'PD' });
    await h.scan(token);
    await h.advance(100);
    expect(h.pulses('A05')).toBe(1);
    expect(h.auditTypes()).toContain('door.sensor-unknown');
  });

  it('reports a relay that cannot be driven and opens nothing', async () => {
    h = new Harness();
    await h.start();
    h.control.injectFault('A01', 'relay-dead');
    const { token } = h.token('pickup', { cmp: 'A01', par: 'PR' });
    await h.scan(token);
    await h.advance(100);
    expect(h.auditTypes()).toContain('door.relay-fault');
    expect(h.control.doorIsOpen('A01')).toBe(false);
  });
});
