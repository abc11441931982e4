import { randomBytes } from 'node:crypto';
import type { PaymentProvider, PaymentResult } from './payment-provider.js';

// A provider with no real money: remembers results per idempotency key (as a real one
// does) and can be told to decline, for tests of the failure paths.

export class SimulatedPaymentProvider implements PaymentProvider {
  readonly captures = new Map<string, PaymentResult>();
  readonly refunds = new Map<string, PaymentResult & { amountCents: number }>();
  declineCaptures = false;
  declineRefunds = false;

  capture(req: { orderId: string; amountCents: number; currency: string; idempotencyKey: string }): Promise<PaymentResult> {
    const seen = this.captures.get(req.idempotencyKey);
    if (seen !== undefined) return Promise.resolve(seen);
    const result: PaymentResult = this.declineCaptures ? { ok: false, reason: 'declined' } : { ok: true, providerRef: `pay_${randomBytes(8).toString('hex')}` };
    this.captures.set(req.idempotencyKey, result);
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
