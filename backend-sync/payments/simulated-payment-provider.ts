import { randomBytes } from 'node:crypto';
import type { PaymentProvider, PaymentResult } from './payment-provider.js';

// A provider with no real money: remembers results per idempotency key (as a real one
// does) and can be told to decline, or to fail the way a network does, for tests of the
// failure paths.

/**
 * How a capture call fails on the wire: `lose_answer` captures (or replays) at the provider
 * and then the answer never arrives (a timeout after the provider acted); `unreachable` never
 * reaches the provider at all. Either way the caller sees only an error.
 */
export type CaptureFault = 'lose_answer' | 'unreachable';

export class SimulatedPaymentProvider implements PaymentProvider {
  readonly captures = new Map<string, PaymentResult>();
  readonly refunds = new Map<string, PaymentResult & { amountCents: number }>();
  declineCaptures = false;
  declineRefunds = false;
  captureFault: CaptureFault | undefined;

  capture(req: { orderId: string; amountCents: number; currency: string; idempotencyKey: string }): Promise<PaymentResult> {
    if (this.captureFault === 'unreachable') return Promise.reject(new Error('connect ECONNREFUSED (simulated)'));
    let result = this.captures.get(req.idempotencyKey);
    if (result === undefined) {
      result = this.declineCaptures ? { ok: false, reason: 'declined' } : { ok: true, providerRef: `pay_${randomBytes(8).toString('hex')}` };
      this.captures.set(req.idempotencyKey, result);
    }
    if (this.captureFault === 'lose_answer') return Promise.reject(new Error('timeout awaiting the provider (simulated)'));
    return Promise.resolve(result);
  }

  refund(req: { paymentRef: string; amountCents: number; currency: string; idempotencyKey: string }): Promise<PaymentResult> {
    const seen = this.refunds.get(req.idempotencyKey);
    if (seen !== undefined) return Promise.resolve(seen);
    const result: PaymentResult = this.declineRefunds ? { ok: false, reason: 'declined' } : { ok: true, providerRef: `rfd_${randomBytes(8).toString('hex')}` };
    this.refunds.set(req.idempotencyKey, { ...result, amountCents: req.amountCents });
    return Promise.resolve(result);
  }
}
