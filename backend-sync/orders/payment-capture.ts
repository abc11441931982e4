import type { Clock } from '../shared/clock.js';
import { BackendError, notFound } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { PaymentProvider, PaymentResult } from '../payments/payment-provider.js';
import type { OrderLineRecord, OrderRecord } from '../store/records.js';
import type { Store } from '../store/store.js';
import type { OrderTransitions } from './order-transitions.js';
import type { OrderView } from './order-schemas.js';
import { orderView } from './order-view.js';
import { queueRefund } from './refunds.js';
import { linesCents } from './lines-cents.js';

// The order's capture with the payment provider, and what happens when its answer is lost.
// A capture is marked pending before it is sent and answered when its result is recorded:
// an order whose capture never got its answer (timeout, crash) is known to owe a question to
// the provider. Cancelling it, or the refund pass once the attempt's lease lapsed, asks the
// provider again under the same key; the provider replays what it did, and money it took is
// recorded as captured (so what is cancelled is refunded from it) rather than kept unseen.

export interface PaymentCaptureDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  payments: PaymentProvider;
  transitions: OrderTransitions;
}

/**
 * How long a capture sent by one instance is its own before the refund pass asks the
 * provider again: longer than a provider call can take. Asking while it is still in flight
 * would be harmless (same key, same answer), only wasted.
 */
const CAPTURE_LEASE_MS = 60_000;
/**
 * How long the refund pass leaves a lost capture of an order still placed to the customer's
 * own retry (which records it and answers the customer): a retry comes within minutes. After
 * that the order would sit placed, its money perhaps taken and its cancelled lines never
 * refunded. A cancelled order's lost capture is asked at once.
 */
const PLACED_CAPTURE_GRACE_MS = 15 * 60_000;
const CAPTURE_BATCH = 50;

/**
 * The capture's idempotency key after `declined` declined attempts. The first attempt keeps
 * the key it always had, so a capture in flight across an upgrade is still replayed.
 */
export function captureKey(orderId: string, declined: number): string {
  return declined === 0 ? `capture:${orderId}` : `capture:${orderId}:${String(declined)}`;
}

/** What the open (not cancelled) lines cost: the amount the customer owes. */
function openLinesCents(lines: readonly OrderLineRecord[]): number {
  return linesCents(lines.filter((l) => l.state === 'open'));
}

export class PaymentCapture {
  private readonly log: Logger;

  /** `refundQueued` pays out a refund a recorded capture queued (the order service's pass). */
  constructor(
    private readonly d: PaymentCaptureDeps,
    private readonly refundQueued: () => void,
  ) {
    this.log = d.logger.child({ component: 'payment-capture' });
  }

  /** Captures the payment with the provider, then records payment_confirmed. */
  async confirm(id: string, actor: string): Promise<OrderView> {
    const { store, payments, clock } = this.d;
    const o = await store.orders.get(id);
    if (o === undefined) throw notFound('order', id);
    if (o.state !== 'placed') throw new BackendError('INVALID_TRANSITION', `order in state ${o.state} cannot confirm payment`, { orderId: id });
    // Outside any transaction: a provider call must not hold database locks. The capture's
    // idempotency key makes a concurrent confirmation (another instance) or a retry after a
    // lost answer capture once; the order's version check below lets only one of them record
    // it. Always the order's total, which never changes: a provider answers a repeated key
    // with its first capture, so an amount worked out per attempt (the open lines, which a
    // cancellation between two attempts changes) would be recorded as captured when it was
    // not. What lines cancelled before the capture was recorded cost is refunded from it.
    const captured = o.totalCents;
    const declined = o.declinedCaptures ?? 0;
    // Committed before the call: if its answer is lost, the order still knows the provider
    // may hold its money under this key. Not marked when the key's outcome is recorded
    // already (a decline counted, or the capture): the provider only replays it then.
    await store.orders.markCapturePending(id, declined, clock.now() + CAPTURE_LEASE_MS);
    let result: PaymentResult;
    try {
      result = await payments.capture({ orderId: id, amountCents: captured, currency: o.currency, idempotencyKey: captureKey(id, declined) });
    } catch (err) {
      // No one waits for this answer any more: due at once, so a cancellation (or the
      // refund pass) asks the provider for it rather than waiting out the lease.
      await store.orders.markCapturePending(id, declined, clock.now());
      this.log.warn({ orderId: id, attempt: declined + 1, err: err instanceof Error ? err.message : String(err) }, 'payment.capture_unanswered');
      throw err;
    }
    if (!result.ok) {
      await this.countDeclinedCapture(o, declined, result.reason);
      throw new BackendError('BUSINESS_RULE', 'payment was declined', { orderId: id, reason: result.reason });
    }
    const recorded = await store.transaction(() => this.recordCapture(id, result.providerRef, captured, actor));
    if (recorded !== undefined) return recorded;
    // The refund is committed; the order stays cancelled and this confirmation failed.
    this.refundQueued();
    throw new BackendError('INVALID_TRANSITION', 'order was cancelled while its payment was captured; the capture is being refunded', { orderId: id });
  }

  /**
   * Asks the provider again, under the same key, for the order's capture whose answer was
   * lost, and records the answer as a confirmation would have. True when it was answered
   * (captured or declined); false when the provider did not answer again, the capture stays
   * pending for a later pass.
   */
  async resolve(o: OrderRecord): Promise<boolean> {
    const { store, payments } = this.d;
    const attempt = o.capturePending;
    if (attempt === undefined || o.paymentRef !== undefined) return true;
    let result: PaymentResult;
    try {
      result = await payments.capture({ orderId: o.id, amountCents: o.totalCents, currency: o.currency, idempotencyKey: captureKey(o.id, attempt) });
    } catch (err) {
      this.log.warn({ orderId: o.id, attempt: attempt + 1, err: err instanceof Error ? err.message : String(err) }, 'payment.capture_unanswered');
      return false;
    }
    if (!result.ok) {
      await this.countDeclinedCapture(o, attempt, result.reason);
      this.log.info({ orderId: o.id, attempt: attempt + 1, outcome: 'declined' }, 'payment.capture_resolved');
      return true;
    }
    await store.transaction(() => this.recordCapture(o.id, result.providerRef, o.totalCents, 'payments', { once: true }));
    this.log.info({ orderId: o.id, attempt: attempt + 1, outcome: 'captured' }, 'payment.capture_resolved');
    this.refundQueued();
    return true;
  }

  /**
   * Resolves the order's capture now if its answer was lost (a cancellation). One still in
   * flight is left to its confirmation, which records it, cancelled lines and all; one asked
   * by another instance is left to it. False when it stays pending.
   */
  async resolveIfLost(id: string): Promise<boolean> {
    const { store, clock } = this.d;
    const o = await store.orders.claimPendingCapture(id, clock.now(), CAPTURE_LEASE_MS);
    return o === undefined ? false : this.resolve(o);
  }

  /** Resolves the captures whose answer was lost and whose lease lapsed (the refund pass); resolves to how many were answered. */
  async resolveDue(): Promise<number> {
    const { store, clock } = this.d;
    let answered = 0;
    for (const o of await store.orders.claimPendingCaptures(clock.now(), PLACED_CAPTURE_GRACE_MS, CAPTURE_LEASE_MS, CAPTURE_BATCH)) {
      if (await this.resolve(o)) answered++;
    }
    return answered;
  }

  /**
   * Spends the declined attempt's key: the provider replays a decline to its key for ever,
   * so the customer's next attempt (another card) must capture under a new one. Counted only
   * from the count this attempt read: every caller under one key got the same decline, and a
   * late one must not open a further key while the next attempt's capture may stand.
   */
  private async countDeclinedCapture(o: OrderRecord, seen: number, reason: string): Promise<void> {
    const { store, clock } = this.d;
    await store.transaction(async () => {
      if (!(await store.orders.countDeclinedCapture(o.id, seen))) return;
      // The order keeps its state; its history shows each declined attempt.
      await store.stateLog.append({ entity: 'order', entityId: o.id, from: o.state, to: o.state, event: 'capture_declined', actor: 'payments', reason: `attempt ${String(seen + 1)}: ${reason}`, at: clock.now() });
      this.log.warn({ orderId: o.id, attempt: seen + 1, reason }, 'payment.capture_declined');
    });
  }

  /**
   * Records a capture made outside any transaction (inside the caller's). The order may have
   * moved on while the provider answered: cancelled, the money is refunded rather than kept
   * (undefined is returned); lines cancelled before it was recorded were charged all the same
   * and are refunded. A capture already recorded (another confirmation won) is refused by the
   * machine, or with `once` (a lost answer asked again) left as it is: its refunds are queued.
   */
  private async recordCapture(id: string, providerRef: string, capturedCents: number, actor: string, opts: { once?: boolean } = {}): Promise<OrderView | undefined> {
    const { store, transitions, clock } = this.d;
    // Locked: a cancellation or another instance's recording committing meanwhile is seen
    // here, or waits for this one.
    const o = await transitions.lockOrder(id);
    if (opts.once === true && o.paymentRef !== undefined) return undefined;
    await store.orders.setPaymentRef(id, providerRef);
    if (o.state === 'cancelled' && o.paymentRef === undefined) {
      await queueRefund(store, clock.now(), { ...o, paymentRef: providerRef }, capturedCents, 'order cancelled while its payment was captured');
      this.log.warn({ orderId: id, amountCents: capturedCents }, 'payment.captured_after_cancel_refunded');
      return undefined;
    }
    const after = await transitions.order(o, { type: 'confirm_payment' }, { actor });
    const overpaid = capturedCents - openLinesCents(await store.orders.lines(id));
    await queueRefund(store, clock.now(), after, overpaid, 'lines cancelled before the payment was captured');
    return orderView(store, after);
  }
}
