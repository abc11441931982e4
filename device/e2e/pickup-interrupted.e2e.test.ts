import { afterEach, describe, expect, it } from 'vitest';
import { Harness } from './harness.js';

// A pickup spends its token and collects its entry when the door OPENS; the close frees the
// compartment. A restart between the two (a stop or crash while the customer has the door
// open) lost that close: the compartment stayed 'occupied' by a collected parcel for good,
// silently, the symptom decision 0020 removed for dead sensors.

let h: Harness;

afterEach(async () => {
  await h.close();
});

async function pickupDoorOpen(via: 'code' | 'qr'): Promise<string> {
  h = new Harness();
  await h.start();
  const parcel = h.addParcel({ parcelId: 'P-PICK', compartmentId: 'A02', code: '10203040' });
  h.deposit(parcel);
  if (via === 'code') await h.type('10203040#');
  else await h.scan(parcel.token);
  await h.advance(100);
  expect(h.control.doorIsOpen('A02')).toBe(true);
  expect(h.store.findEntryByTokenId(parcel.tokenId)?.state).toBe('collected');
  return parcel.tokenId;
}

describe('a pickup interrupted by a restart with its door open', () => {
  for (const via of ['code', 'qr'] as const) {
    it(`frees the compartment of a ${via} pickup whose close the last run never saw`, async () => {
      const tokenId = await pickupDoorOpen(via);
      await h.restart();
      await h.closeDoor('A02');
      expect(h.store.getCompartment('A02')?.status).toBe('free');
      const freed = h.store.readUnackedAudit({ lane: 'normal', afterSeq: 0, limit: 1000 }).find((r) => r.type === 'compartment.freed-after-restart');
      expect(JSON.parse(freed?.dataJson ?? '{}')).toMatchObject({ compartmentId: 'A02', parcelId: 'P-PICK', tokenId });
    });
  }

  it('offers a courier the freed compartment only once its door is closed', async () => {
    await pickupDoorOpen('code');
    await h.restart();
    await h.scan(h.token('courier', { sub: 'courier-1' }).token);
    h.addParcel({ parcelId: 'P-NEXT', compartmentId: 'A02', code: '10203041' });
    await h.scan('P-NEXT');
    await h.advance(100);
    expect(h.pulses('A02')).toBe(1);
    expect(h.pulses('A03')).toBe(1);
  });

  it('leaves a compartment occupied while a parcel recorded in it is still to be collected', async () => {
    h = new Harness();
    await h.start();
    const parcel = h.addParcel({ parcelId: 'P-STAY', compartmentId: 'A02', code: '10203042' });
    h.deposit(parcel);
    await h.restart();
    expect(h.store.getCompartment('A02')).toMatchObject({ status: 'occupied', parcelId: 'P-STAY' });
    expect(h.auditTypes()).not.toContain('compartment.freed-after-restart');
  });
});
