import { describe, expect, it } from 'vitest';
import { deriveFulfilmentState, nextOrderState, orderStates, type OrderEvent, type OrderState } from './order-state-machine.js';
import { nextShipmentState, shipmentEvents, shipmentStates, type ShipmentEvent, type ShipmentState } from './shipment-state-machine.js';

// Allowed moves, spelled out: every (state, event) pair not listed here must be refused.
const allowedShipment: ReadonlyArray<[ShipmentState, ShipmentEvent, ShipmentState]> = [
  ['created', 'ship', 'shipped'],
  ['created', 'deposit', 'delivered'],
  ['created', 'cancel', 'cancelled'],
  ['shipped', 'out_for_delivery', 'out_for_delivery'],
  ['shipped', 'deposit', 'delivered'],
  ['out_for_delivery', 'deposit', 'delivered'],
  ['delivered', 'collect', 'collected'],
  ['delivered', 'expire', 'expired'],
  ['collected', 'request_return', 'return_requested'],
  ['expired', 'collect', 'collected'],
  ['expired', 'retrieve', 'returned'],
  ['return_requested', 'drop_return', 'return_dropped'],
  ['collected', 'drop_return', 'return_dropped'],
  ['return_requested', 'expire_return', 'collected'],
  ['return_dropped', 'retrieve', 'returned'],
  ['created', 'return_to_sender', 'returned_to_sender'],
  ['shipped', 'return_to_sender', 'returned_to_sender'],
  ['out_for_delivery', 'return_to_sender', 'returned_to_sender'],
];

describe('shipment state machine', () => {
  it('allows exactly the transitions of the table and refuses every other pair', () => {
    for (const state of shipmentStates) {
      for (const event of shipmentEvents) {
        const expected = allowedShipment.find(([s, e]) => s === state && e === event)?.[2];
        const result = nextShipmentState(state, event);
        if (expected === undefined) expect(result.ok, `${state} + ${event}`).toBe(false);
        else expect(result, `${state} + ${event}`).toEqual({ ok: true, next: expected });
      }
    }
  });

  it('never lets a shipment be cancelled once it has left the warehouse', () => {
    for (const s of ['shipped', 'out_for_delivery', 'delivered', 'collected'] as const) expect(nextShipmentState(s, 'cancel').ok).toBe(false);
  });
});

describe('order state machine', () => {
  const cases: ReadonlyArray<[OrderState, OrderEvent, OrderState | 'refused']> = [
    ['placed', { type: 'confirm_payment' }, 'payment_confirmed'],
    ['placed', { type: 'start_processing' }, 'refused'],
    ['placed', { type: 'cancel' }, 'cancelled'],
    ['payment_confirmed', { type: 'start_processing' }, 'processing'],
    ['payment_confirmed', { type: 'confirm_payment' }, 'refused'],
    ['payment_confirmed', { type: 'cancel' }, 'cancelled'],
    ['processing', { type: 'cancel' }, 'cancelled'],
    ['processing', { type: 'fulfilment', derived: 'partially_shipped' }, 'partially_shipped'],
    ['shipped', { type: 'cancel' }, 'refused'],
    ['delivered', { type: 'fulfilment', derived: 'collected' }, 'collected'],
    ['placed', { type: 'fulfilment', derived: 'shipped' }, 'refused'],
    ['cancelled', { type: 'confirm_payment' }, 'refused'],
    ['cancelled', { type: 'fulfilment', derived: 'shipped' }, 'refused'],
    ['returned', { type: 'fulfilment', derived: 'collected' }, 'refused'],
  ];
  it.each(cases)('from %s on %j gives %s', (state, event, expected) => {
    const result = nextOrderState(state, event);
    if (expected === 'refused') expect(result.ok).toBe(false);
    else expect(result).toEqual({ ok: true, next: expected });
  });

  it('knows every state it can be asked about', () => {
    for (const s of orderStates) expect(() => nextOrderState(s, { type: 'cancel' })).not.toThrow();
  });
});

describe('derived order state for split shipments', () => {
  it.each([
    [[], 2, 'processing'],
    [['created'], 1, 'processing'],
    [['shipped', 'created'], 0, 'partially_shipped'],
    [['shipped'], 1, 'partially_shipped'],
    [['shipped', 'out_for_delivery'], 0, 'shipped'],
    [['out_for_delivery', 'out_for_delivery'], 0, 'out_for_delivery'],
    [['delivered', 'shipped'], 0, 'partially_delivered'],
    [['delivered', 'collected'], 0, 'delivered'],
    [['collected', 'collected'], 0, 'collected'],
    [['collected', 'cancelled'], 0, 'collected'],
    [['returned', 'returned'], 0, 'returned'],
    [['returned_to_sender'], 0, 'returned'],
    [['returned_to_sender', 'returned'], 0, 'returned'],
    [['returned_to_sender', 'shipped'], 0, 'shipped'],
    [['returned_to_sender', 'collected'], 0, 'collected'],
    [['returned_to_sender', 'cancelled'], 0, 'returned'],
    [['returned_to_sender'], 1, 'processing'],
    [['cancelled'], 0, 'cancelled'],
  ] as const)('shipments %j with %i unshipped lines give %s', (shipments, unshipped, expected) => {
    expect(deriveFulfilmentState(shipments, unshipped)).toBe(expected);
  });
});
