import { describe, expect, it } from 'vitest';
import type { Delivery } from '@locker/sync-testing/multi-instance/webhook-sink.js';
import { NoticeBook } from './notice-book.js';
import { expectedNotices } from './parcel-flow.js';

const notice = (id: string, kind: string, payload: Record<string, unknown>): Delivery => ({ id, kind, recipient: { email: 'c@example.com' }, payload, createdAt: 1 });

describe('NoticeBook', () => {
  it('finds the pickup code of a shipment once its ready notice came, also when it arrives later', () => {
    const deliveries: Delivery[] = [notice('n1', 'order.placed', { orderId: 'o1' })];
    const book = new NoticeBook(deliveries);
    expect(book.codeFor('s1')).toBeUndefined();
    deliveries.push(notice('n2', 'parcel.ready_for_pickup', { shipmentId: 's1', code: '12345678' }));
    expect(book.codeFor('s1')).toBe('12345678');
    expect(book.has('order.placed', 'o1')).toBe(true);
    expect(book.has('parcel.collected', 's1')).toBe(false);
  });

  it('counts a subject notified under two ids as duplicated, and the same id delivered twice as not', () => {
    const deliveries: Delivery[] = [
      notice('n1', 'parcel.collected', { shipmentId: 's1' }),
      notice('n1', 'parcel.collected', { shipmentId: 's1' }),
      notice('n2', 'parcel.collected', { shipmentId: 's2' }),
      notice('n3', 'parcel.collected', { shipmentId: 's2' }),
    ];
    const book = new NoticeBook(deliveries);
    expect(book.duplicatedSubjects()).toBe(1);
    expect(book.countsByKind()).toEqual({ 'parcel.collected': 4 });
  });
});

describe('expectedNotices', () => {
  it('owes a parcel the notices of the stages it reached, and none of the later ones', () => {
    const base = { tag: 't', lockerId: 'l', pickup: true, orderId: 'o1', shipmentId: 's1' };
    expect(expectedNotices({ tag: 't', lockerId: 'l', pickup: true, stage: 'started' })).toEqual([]);
    expect(expectedNotices({ ...base, stage: 'shipped' }).map((n) => n.kind)).toEqual(['order.placed', 'order.payment_confirmed']);
    expect(expectedNotices({ ...base, stage: 'collected' }).map((n) => n.kind)).toEqual(['order.placed', 'order.payment_confirmed', 'parcel.ready_for_pickup', 'parcel.collected']);
  });
});
