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

/**
 * The refund's idempotency key at its `retries`-th operator retry. The provider replays a
 * decline to its key, so a retry after a decline needs a new one; a call whose answer was
 * lost is asked again under the same one (it may have paid). The first keeps the key it
 * always had, so a refund in flight across an upgrade is still replayed.
 */
export function refundKey(refundId: string, retries: number): string {
  return retries === 0 ? `refund:${refundId}` : `refund:${refundId}:${String(retries)}`;
}

const UNANSWERED_BASE_MS = 60_000;
const UNANSWERED_MAX_MS = 60 * 60_000;

/**
 * How long a refund waits after its `unanswered`-th call in a row lost its answer (timeout,
 * provider down): doubling from a minute, at most an hour. Never given up: the money is owed.
 */
export function unansweredBackoffMs(unanswered: number): number {
  return Math.min(UNANSWERED_BASE_MS * 2 ** Math.min(unanswered, 16), UNANSWERED_MAX_MS);
}
