import { describe, expect, it } from 'vitest';
import { compartmentReturn, type CompartmentReturnFacts, type ShipmentFacts } from './compartment-return.js';

const NOW = 1_000_000;
const base: CompartmentReturnFacts = { lockerId: 'lk', compartmentId: 'M1', now: NOW, lockerSays: 'free' };
const ROW = 'res_row';
const parcel = (state: ShipmentFacts['state'], where: Partial<{ lockerId: string; compartmentId: string; id: string }> = {}): ShipmentFacts => ({
  id: where.id ?? 'shp_1',
  state,
  lockerId: where.lockerId ?? 'lk',
  compartmentId: where.compartmentId ?? 'M1',
});
const res = (status: NonNullable<CompartmentReturnFacts['reservation']>['status'], o: Partial<{ compartmentId: string; expiresAt: number }> = {}) => ({
  status,
  lockerId: 'lk',
  compartmentId: o.compartmentId ?? 'M1',
  expiresAt: o.expiresAt ?? NOW + 60_000,
});
const free = { kind: 'restore', state: 'free', reservationId: null, holdExpiresAt: null };

describe('compartmentReturn', () => {
  it.each([
    ['nothing promised', {}, free],
    ['a checkout hold the re-slot could not move', { reservation: res('held') }, { kind: 'restore', state: 'held', reservationId: ROW, holdExpiresAt: NOW + 60_000 }],
    // Still live in reservations until a claim or the sweeper ends it: reads see it free.
    ['a hold that lapsed meanwhile', { reservation: res('held', { expiresAt: NOW }) }, { kind: 'restore', state: 'held', reservationId: ROW, holdExpiresAt: NOW }],
    ['a hold the fault moved to another door', { reservation: res('held', { compartmentId: 'M2' }) }, free],
    ['an order reservation without a parcel yet', { reservation: res('confirmed') }, { kind: 'restore', state: 'reserved', reservationId: ROW, holdExpiresAt: null }],
    ['an order reservation the fault moved', { reservation: res('confirmed', { compartmentId: 'M2' }) }, free],
    ['a parcel on its way', { reservation: res('consumed'), shipment: parcel('shipped') }, { kind: 'restore', state: 'reserved', reservationId: ROW, holdExpiresAt: null }],
    ['a parcel re-slotted elsewhere', { reservation: res('released'), shipment: parcel('shipped', { compartmentId: 'M2' }) }, free],
    ['a parcel collected meanwhile', { reservation: res('released'), shipment: parcel('collected') }, free],
    ['a cancelled parcel', { reservation: res('released'), shipment: parcel('cancelled') }, free],
  ])('with %s and an empty compartment', (_what, facts, expected) => {
    expect(compartmentReturn({ ...base, ...facts }, ROW)).toEqual(expected);
  });

  it.each(['delivered', 'expired', 'return_dropped'] as const)('a %s parcel inside, as the locker says: occupied', (s) => {
    const p = parcel(s);
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: res('released'), shipment: p, lockerParcel: p }, ROW)).toEqual({ kind: 'restore', state: 'occupied', reservationId: ROW, holdExpiresAt: null });
  });

  it('a return drop-off the locker already counts inside, before anything was put in: reserved for it', () => {
    const p = parcel('return_requested');
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: res('consumed'), shipment: p, lockerParcel: p }, ROW)).toEqual({ kind: 'restore', state: 'reserved', reservationId: ROW, holdExpiresAt: null });
  });

  it("a deposit whose record is still in flight, the parcel re-slotted away by the fault: reserved under the parcel's reservation", () => {
    // The backend moved the parcel to M2 when M1 failed; the locker had already put it in M1.
    const p = { ...parcel('shipped', { compartmentId: 'M2' }), reservationId: 'res_p' };
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: res('released'), shipment: p, lockerParcel: p }, ROW)).toEqual({
      kind: 'restore',
      state: 'reserved',
      reservationId: 'res_p',
      holdExpiresAt: null,
      moveParcel: { shipmentId: 'shp_1', reservationId: 'res_p', from: 'M2' },
    });
    // Without a reservation to free it with, it stays out.
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', lockerParcel: parcel('shipped', { compartmentId: 'M2' }) }, null).kind).toBe('keep-out');
  });

  it('a parcel a courier re-slotted into this door, delivered here: occupied under its own reservation', () => {
    const p = { ...parcel('delivered'), reservationId: 'res_p' };
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: res('held', { compartmentId: 'M3' }), lockerParcelId: p.id, lockerParcel: p }, ROW)).toEqual({ kind: 'restore', state: 'occupied', reservationId: 'res_p', holdExpiresAt: null });
  });

  it('the locker holds a parcel the backend does not place there: kept out', () => {
    expect(compartmentReturn({ ...base, lockerSays: 'occupied' }, null)).toEqual({ kind: 'keep-out', mismatch: { backend: 'free', locker: 'occupied', shipmentId: null, lockerParcelId: null } });
    // Of another locker, or no longer live (cancelled while the locker was offline).
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', lockerParcel: parcel('shipped', { lockerId: 'other', id: 'shp_9' }) }, null).kind).toBe('keep-out');
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', lockerParcelId: 'shp_9', lockerParcel: parcel('cancelled', { id: 'shp_9' }) }, null)).toMatchObject({ kind: 'keep-out', mismatch: { lockerParcelId: 'shp_9' } });
    // Another parcel than the one the backend awaits here.
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: res('consumed'), shipment: parcel('shipped'), lockerParcel: parcel('collected', { id: 'shp_9' }) }, ROW).kind).toBe('keep-out');
  });

  it.each(['cancelled', 'returned_to_sender'] as const)('a %s parcel the locker took in anyway, its door marked for it: occupied until a courier takes it', (state) => {
    const p = { ...parcel(state), reservationId: ROW };
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: res('released'), shipment: p, lockerParcelId: p.id, lockerParcel: p }, ROW)).toEqual({ kind: 'restore', state: 'occupied', reservationId: ROW, holdExpiresAt: null });
    // Taken out meanwhile (the locker says empty): free.
    expect(compartmentReturn({ ...base, reservation: res('released'), shipment: p }, ROW)).toEqual(free);
  });

  it("the locker says empty where the backend's parcel is: occupied, told", () => {
    expect(compartmentReturn({ ...base, reservation: res('consumed'), shipment: parcel('delivered') }, ROW)).toEqual({
      kind: 'restore',
      state: 'occupied',
      reservationId: ROW,
      holdExpiresAt: null,
      mismatch: { backend: 'occupied', locker: 'free', shipmentId: 'shp_1', lockerParcelId: null },
    });
  });

  it('a parcel of another locker is not inside this one', () => {
    expect(compartmentReturn({ ...base, reservation: res('released'), shipment: parcel('delivered', { lockerId: 'other' }) }, ROW)).toEqual(free);
  });
});
