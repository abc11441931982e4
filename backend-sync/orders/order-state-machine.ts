import { shipmentProgress, type ShipmentState, type TransitionResult } from './shipment-state-machine.js';

// The order lifecycle as pure functions. The order's own steps (payment, processing,
// cancellation) are events; once shipments exist the order's state is DERIVED from them
// (deriveFulfilmentState) and the move to the derived state is checked here like any other.

export const orderStates = [
  'placed',
  'payment_confirmed',
  'processing',
  'partially_shipped',
  'shipped',
  'out_for_delivery',
  'partially_delivered',
  'delivered',
  'collected',
  'cancelled',
  'returned',
] as const;
export type OrderState = (typeof orderStates)[number];

export const fulfilmentStates = ['processing', 'partially_shipped', 'shipped', 'out_for_delivery', 'partially_delivered', 'delivered', 'collected', 'returned'] as const;
export type FulfilmentState = (typeof fulfilmentStates)[number];

export type OrderEvent =
  | { type: 'confirm_payment' }
  | { type: 'start_processing' }
  | { type: 'cancel' }
  | { type: 'fulfilment'; derived: FulfilmentState };

const isFulfilment = (s: OrderState): s is FulfilmentState => (fulfilmentStates as readonly string[]).includes(s);

export function nextOrderState(state: OrderState, event: OrderEvent): TransitionResult<OrderState> {
  const refuse = (why: string): TransitionResult<OrderState> => ({ ok: false, reason: why });
  switch (event.type) {
    case 'confirm_payment':
      return state === 'placed' ? { ok: true, next: 'payment_confirmed' } : refuse(`order in state ${state} cannot confirm payment`);
    case 'start_processing':
      return state === 'payment_confirmed' ? { ok: true, next: 'processing' } : refuse(`order in state ${state} cannot start processing`);
    case 'cancel':
      // Whole-order cancellation only before anything left the warehouse.
      return state === 'placed' || state === 'payment_confirmed' || state === 'processing'
        ? { ok: true, next: 'cancelled' }
        : refuse(`order in state ${state} cannot be cancelled`);
    case 'fulfilment':
      if (!isFulfilment(state)) return refuse(`order in state ${state} has no fulfilment yet`);
      if (state === 'returned') return refuse('order is returned');
      return { ok: true, next: event.derived };
  }
}

/**
 * The order's state from its live shipments and its open lines not yet in a shipment
 * (which count as not shipped). undefined when nothing is left to fulfil (all cancelled).
 */
export function deriveFulfilmentState(shipments: readonly ShipmentState[], unshippedOpenLines: number): FulfilmentState | 'cancelled' {
  // A parcel the carrier sent back says nothing about how far the others are (beside a
  // shipped one it is not a partial delivery); the order is returned when nothing else is left.
  const progress = shipments.filter((s) => s !== 'returned_to_sender').map(shipmentProgress).filter((p) => p >= 0);
  if (unshippedOpenLines > 0) progress.push(0);
  if (progress.length === 0) return shipments.includes('returned_to_sender') ? 'returned' : 'cancelled';
  const min = Math.min(...progress);
  const max = Math.max(...progress);
  if (min === 5) return 'returned';
  if (min >= 4) return 'collected';
  if (min >= 3) return 'delivered';
  if (max >= 3) return 'partially_delivered';
  if (min >= 2) return 'out_for_delivery';
  if (min >= 1) return 'shipped';
  if (max >= 1) return 'partially_shipped';
  return 'processing';
}
