import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// Review #5: while a courier's deposit door was open, every 1, 2 and Enter went to the
// courier session: a customer's code re-slotted the parcel and marked the door faulty, and
// a courier who walked away left Enter swallowed for everyone.

let h: Harness;

afterEach(async () => {
  await h.close();
});

async function courierDepositOpenWithCustomerParcel(code: string): Promise<void> {
  h = new Harness();
  await h.start();
  await h.scan(h.token('courier', { sub: 'c1' }).token);
  h.addParcel({ parcelId: 'P9', compartmentId: 'A02', code: '10203049', size: 'M' });
  const mine = h.addParcel({ parcelId: 'C1', compartmentId: 'A04', code, size: 'L' });
  h.deposit(mine);
  await h.scan('P9');
  await h.advance(100);
  expect(h.control.doorIsOpen('A02')).toBe(true);
}

describe('the keypad shared with a courier deposit', () => {
  it('treats a customer code full of 1s and 2s typed during a courier deposit as a code, not as re-slot keys', async () => {
    await courierDepositOpenWithCustomerParcel('21212121');
    await h.type('21212121#');
    await h.advance(100);
    expect(h.store.getCompartment('A02')?.status).not.toBe('out-of-service');
    expect(h.auditTypes()).not.toContain('courier.reslot');
    expect(h.pulses('A04')).toBe(1);
    expect(h.pulses('A02')).toBe(1);
  });

  it('lets a customer open their compartment with Enter while a courier deposit door stands open and the courier is gone', async () => {
    await courierDepositOpenWithCustomerParcel('34343434');
    await h.advance(10 * 60_000);
    await h.type('34343434#');
    await h.advance(100);
    expect(h.pulses('A04')).toBe(1);
  });

  it('takes re-slot keys only right after the courier prefix', async () => {
    await courierDepositOpenWithCustomerParcel('34343434');
    await h.type('C');
    expect(h.lastText()).toContain('Courier: 1 = does not fit, 2 = door faulty');
    await h.advance(6_000);
    await h.type('2');
    await h.advance(100);
    expect(h.auditTypes()).not.toContain('courier.reslot');
    await h.type('C'); // clears the stray digit, which the keypad took as the start of a code
    await h.type('C2');
    await h.advance(100);
    expect(h.auditTypes()).toContain('courier.reslot');
    expect(h.store.getCompartment('A02')?.status).toBe('out-of-service');
  });

  it('does not arm the courier prefix with the Cancel of a customer who is typing a code', async () => {
    await courierDepositOpenWithCustomerParcel('34343434');
    await h.type('34C2');
    await h.advance(100);
    expect(h.auditTypes()).not.toContain('courier.reslot');
    expect(h.store.getCompartment('A02')?.status).toBe('free');
  });
});
