// The lifecycle of one shipment (one parcel), as a pure function: (state, event) → next
// state or a refusal. No I/O, no clock: the order service applies what this allows.

export const shipmentStates = [
  'created', // compartment assigned, tokens issued, waiting for the carrier
  'shipped',
  'out_for_delivery',
  'delivered', // in a locker, available for pickup
  'collected',
  'cancelled',
  'expired', // pickup window lapsed: codes revoked, waits for a courier to take it back
  'return_requested', // customer asked to return: a drop-off code and a compartment exist
  'return_dropped', // customer put it into a locker
  'returned', // a courier retrieved it (expired or returned)
  'returned_to_sender', // the carrier sent it back before it reached the locker
] as const;
export type ShipmentState = (typeof shipmentStates)[number];

export const shipmentEvents = ['ship', 'out_for_delivery', 'deposit', 'collect', 'cancel', 'expire', 'request_return', 'drop_return', 'expire_return', 'retrieve', 'return_to_sender'] as const;
export type ShipmentEvent = (typeof shipmentEvents)[number];

const table: Readonly<Record<ShipmentState, Partial<Record<ShipmentEvent, ShipmentState>>>> = {
  created: { ship: 'shipped', deposit: 'delivered', cancel: 'cancelled', return_to_sender: 'returned_to_sender' },
  shipped: { out_for_delivery: 'out_for_delivery', deposit: 'delivered', return_to_sender: 'returned_to_sender' },
  out_for_delivery: { deposit: 'delivered', return_to_sender: 'returned_to_sender' },
  delivered: { collect: 'collected', expire: 'expired' },
  // drop_return: the locker recorded a drop-off before its code expired, but the record came
  // up after the return-expiry sweep had put the shipment back here (offline past the grace).
  collected: { request_return: 'return_requested', drop_return: 'return_dropped' },
  cancelled: {},
  // collect: the locker recorded the pickup before its expiry reached it (offline, or the
  // revoked code not yet delivered): the parcel is with the customer, whatever the deadline said.
  expired: { collect: 'collected', retrieve: 'returned' },
  // expire_return: the drop-off code lapsed unused. The parcel is still with the customer,
  // which is what collected means (and from there a return can be requested again).
  return_requested: { drop_return: 'return_dropped', expire_return: 'collected' },
  return_dropped: { retrieve: 'returned' },
  returned: {},
  returned_to_sender: {},
};

export type TransitionResult<S> = { ok: true; next: S } | { ok: false; reason: string };

export function nextShipmentState(state: ShipmentState, event: ShipmentEvent): TransitionResult<ShipmentState> {
  const next = table[state][event];
  return next === undefined ? { ok: false, reason: `shipment in state ${state} cannot ${event}` } : { ok: true, next };
}

/** How far along a shipment is, for deriving the order's state. */
export function shipmentProgress(state: ShipmentState): number {
  switch (state) {
    case 'created':
      return 0;
    case 'shipped':
      return 1;
    case 'out_for_delivery':
      return 2;
    case 'delivered':
    case 'expired':
      return 3;
    case 'collected':
    case 'return_requested':
    case 'return_dropped':
      return 4;
    case 'returned':
    case 'returned_to_sender':
      return 5;
    case 'cancelled':
      return -1;
  }
}
