import type { OrderView, PlaceOrderRequest, ShipmentView } from '../orders/order-schemas.js';
import { decodeMessage, type CodeBatchMessage } from '../shared/contract.js';
import type { BackendFixture } from './backend-fixture.js';

// Short paths through the services for tests that need an order in some state.

/** An order of two lines (one M line of 10.00, two S items of 15.00: 40.00 EUR) under `key`, no reservations: the capture tests' order. */
export const twoLineOrder = (key: string): PlaceOrderRequest => ({
  orderRef: `ref-${key}`,
  customer: { name: 'Ada', email: 'ada@example.com' },
  currency: 'EUR',
  lines: [
    { lineId: 'l1', sku: 'a', quantity: 1, unitPriceCents: 1000, size: 'M' },
    { lineId: 'l2', sku: 'b', quantity: 2, unitPriceCents: 1500, size: 'S' },
  ],
  reservationIds: [],
});

/** 'ok', or the message the call was refused with: outcomes of concurrent calls compare as plain values. */
export const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (e: unknown) => (e as Error).message,
  );

export async function paidOrder(f: BackendFixture, key: string, lines: Array<{ lineId: string; size: 'S' | 'M' | 'L' | 'XL'; unitPriceCents?: number }>): Promise<OrderView> {
  const { body: placed } = await f.services.orders.place(key, {
    orderRef: `ref-${key}`,
    customer: { name: 'Ada', email: 'ada@example.com' },
    currency: 'EUR',
    lines: lines.map((l) => ({ lineId: l.lineId, sku: `sku-${l.lineId}`, quantity: 1, unitPriceCents: l.unitPriceCents ?? 1000, size: l.size })),
    reservationIds: [],
  });
  await f.services.orders.confirmPayment(placed.id, 'test');
  return f.services.orders.startProcessing(placed.id, 'test');
}

export function ship(f: BackendFixture, orderId: string, lineIds: string[], lockerId: string, size: 'S' | 'M' | 'L' | 'XL', tracking: string): Promise<ShipmentView> {
  return f.services.shipments.create(orderId, { lineIds, carrier: 'dhl', trackingNumber: tracking, delivery: { lockerId, size } }, 'test');
}

/** A publisher that keeps what the bridge sends, decoded. */
export class RecordingPublisher {
  readonly batches: CodeBatchMessage[] = [];
  readonly raw: Array<{ topic: string; payload: Buffer }> = [];
  publish(topic: string, payload: Buffer): Promise<void> {
    this.raw.push({ topic, payload });
    if (topic.endsWith('/codes/batch')) {
      const m = decodeMessage('codes/batch', payload);
      if (m.ok) this.batches.push(m.message);
    }
    return Promise.resolve();
  }
}

