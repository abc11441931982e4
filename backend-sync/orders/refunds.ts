import { newId } from '../shared/ids.js';
import type { OrderRecord } from '../store/records.js';
import type { Store } from '../store/store.js';

/** Records a refund to be paid out by OrderService.processRefunds (inside the caller's transaction). */
export async function queueRefund(store: Store, now: number, o: OrderRecord, amountCents: number, reason: string): Promise<void> {
  if (o.paymentRef === undefined || amountCents <= 0) return;
  const id = newId('ref');
  await store.refunds.insert({ id, orderId: o.id, amountCents, state: 'pending', reason, createdAt: now });
  await store.stateLog.append({ entity: 'refund', entityId: id, to: 'pending', event: 'request', actor: 'orders', reason, at: now });
}
