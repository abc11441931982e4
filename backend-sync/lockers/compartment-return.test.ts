import { describe, expect, it } from 'vitest';
import { compartmentReturn, type CompartmentReturnFacts } from './compartment-return.js';

const base: CompartmentReturnFacts = { lockerId: 'lk', compartmentId: 'M1', lockerSays: 'free' };
const parcel = (state: NonNullable<CompartmentReturnFacts['shipment']>['state'], where: Partial<{ lockerId: string; compartmentId: string }> = {}) => ({
  id: 'shp_1',
  state,
  lockerId: where.lockerId ?? 'lk',
  compartmentId: where.compartmentId ?? 'M1',
});

describe('compartmentReturn', () => {
  it.each([
    ['nothing promised', {}, 'free', false],
    ['a checkout hold the re-slot could not move', { reservation: { status: 'held' as const } }, 'held', true],
    ['an order reservation without a parcel yet', { reservation: { status: 'confirmed' as const } }, 'reserved', true],
    ['a parcel on its way', { reservation: { status: 'consumed' as const }, shipment: parcel('shipped') }, 'reserved', true],
    ['a return drop-off still to come', { reservation: { status: 'consumed' as const }, shipment: parcel('return_requested') }, 'reserved', true],
    ['a parcel collected meanwhile', { reservation: { status: 'released' as const }, shipment: parcel('collected') }, 'free', false],
    ['a parcel re-slotted elsewhere', { reservation: { status: 'consumed' as const }, shipment: parcel('shipped', { compartmentId: 'M2' }) }, 'free', false],
    ['a cancelled parcel', { reservation: { status: 'released' as const }, shipment: parcel('cancelled') }, 'free', false],
  ])('with %s and an empty compartment: %s', (_what, facts, state, keepReservation) => {
    expect(compartmentReturn({ ...base, ...facts })).toEqual({ kind: 'restore', state, keepReservation });
  });

  it.each(['delivered', 'expired', 'return_dropped'] as const)('a %s parcel inside, as the locker says: occupied', (s) => {
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: { status: 'released' }, shipment: parcel(s) })).toEqual({ kind: 'restore', state: 'occupied', keepReservation: true });
  });

  it('the locker holds a parcel the backend does not place there: kept out', () => {
    expect(compartmentReturn({ ...base, lockerSays: 'occupied' })).toEqual({ kind: 'keep-out', mismatch: { backend: 'free', locker: 'occupied', shipmentId: null } });
    expect(compartmentReturn({ ...base, lockerSays: 'occupied', reservation: { status: 'consumed' }, shipment: parcel('shipped') }).kind).toBe('keep-out');
  });

  it("the locker says empty where the backend's parcel is: occupied, told", () => {
    expect(compartmentReturn({ ...base, reservation: { status: 'consumed' }, shipment: parcel('delivered') })).toEqual({
      kind: 'restore',
      state: 'occupied',
      keepReservation: true,
      mismatch: { backend: 'occupied', locker: 'free', shipmentId: 'shp_1' },
    });
  });

  it('a parcel of another locker is not inside this one', () => {
    expect(compartmentReturn({ ...base, reservation: { status: 'released' }, shipment: parcel('delivered', { lockerId: 'other' }) })).toEqual({ kind: 'restore', state: 'free', keepReservation: false });
  });
});
