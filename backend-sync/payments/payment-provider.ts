// Money moves through this interface only. The backend never holds card data: it asks the
// provider to capture an authorised payment and to refund, each under an idempotency key
// so a retried call cannot move money twice.

export type PaymentResult = { ok: true; providerRef: string } | { ok: false; reason: string };

export interface PaymentProvider {
  capture(req: { orderId: string; amountCents: number; currency: string; idempotencyKey: string }): Promise<PaymentResult>;
  refund(req: { paymentRef: string; amountCents: number; currency: string; idempotencyKey: string }): Promise<PaymentResult>;
}
