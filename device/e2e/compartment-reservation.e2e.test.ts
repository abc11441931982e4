import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Review #1: a compartment reserved for a pending return drop-off (or another parcel's
// awaiting deposit) is still 'free', so the courier's chooser filled it, and the return
// code then opened the door on someone else's parcel.

let h: Harness;

afterEach(async () => {
  await h.close();
});

describe('compartments reserved for another parcel', () => {
  it('never puts a courier parcel into a compartment reserved for a pending return drop-off, and the return code never opens a door on another parcel', async () => {
    h = new Harness();
    await h.start();
    const old = h.addParcel({ parcelId: 'OLD', compartmentId: 'A02', code: '40404040' });
    h.deposit(old);
    h.addParcel({ parcelId: 'RET1', compartmentId: 'A03', code: '70707070', kind: 'return-dropoff' });
    await h.scan(h.token('courier', { sub: 'c1' }).token);
    h.addParcel({ parcelId: 'P', compartmentId: 'A02', code: '80808080' });
    await h.scan('P');
    await h.advance(2000);
    expect(h.pulses('A03')).toBe(0);
    expect(h.pulses('A04')).toBe(1);
    await h.closeDoor('A04');
    expect(h.store.getCompartment('A04')).toMatchObject({ status: 'occupied', parcelId: 'P' });
    await h.type('70707070#');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(1);
    expect(h.pulses('A04')).toBe(1);
  });

  it('never re-slots a parcel into a compartment assigned to another parcel awaiting deposit', async () => {
    h = new Harness();
    await h.start();
    h.addParcel({ parcelId: 'LATER', compartmentId: 'A03', code: '90909090' });
    await h.scan(h.token('courier', { sub: 'c1' }).token);
    h.addParcel({ parcelId: 'NOW', compartmentId: 'A02', code: '80808081' });
    await h.scan('NOW');
    await h.advance(2000);
    expect(h.pulses('A02')).toBe(1);
    await h.type('C2');
    await h.advance(2000);
    expect(h.pulses('A03')).toBe(0);
  });
});

describe('a code whose compartment holds another parcel', () => {
  it('refuses a return drop-off code for a compartment holding another parcel, opens nothing and reports it in the priority lane', async () => {
    h = new Harness();
    await h.start();
    const old = h.addParcel({ parcelId: 'OLD', compartmentId: 'A02', code: '40404040' });
    h.deposit(old);
    h.addParcel({ parcelId: 'RET2', compartmentId: 'A02', code: '70707071', kind: 'return-dropoff' });
    await h.type('70707071#');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(0);
    expect(h.lastText()).toContain('No suitable compartment');
    expect(h.store.readUnackedAudit({ lane: 'priority', afterSeq: 0, limit: 1000 }).map((r) => r.type)).toContain('pickup.suspicious');
    expect(h.runtime.health().lockout.failures).toBe(0);
  });

  it('refuses a pickup code whose compartment the store knows holds another parcel, without counting it', async () => {
    h = new Harness();
    await h.start();
    const mine = h.addParcel({ parcelId: 'MINE', compartmentId: 'A03', code: '12341234' });
    h.deposit(mine);
    h.store.setCompartmentStatus('A03', 'occupied', { parcelId: 'SOMEONE-ELSE' });
    await h.type('12341234#');
    await h.advance(100);
    expect(h.pulses('A03')).toBe(0);
    expect(h.lastText()).toContain('contact support');
    expect(h.runtime.health().lockout.failures).toBe(0);
    expect(h.store.findEntryByTokenId(mine.tokenId)?.state).toBe('live');
  });
});
