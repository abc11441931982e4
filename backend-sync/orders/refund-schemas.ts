import { z } from 'zod';
import type { RefundRecord } from '../store/records.js';

// The operator's view of refunds (GET /admin/refunds, POST /admin/refunds/{id}/retry).

export const RefundView = z.object({
  id: z.string(),
  orderId: z.string(),
  amountCents: z.number().int(),
  state: z.enum(['pending', 'succeeded', 'failed']),
  reason: z.string(),
  /** Times an operator sent it again after a decline. */
  retries: z.number().int(),
  /** Calls in a row whose answer was lost (retried by the sweeper with backoff). */
  unanswered: z.number().int(),
  /** The provider's decline, or the error of the last call whose answer was lost. */
  lastError: z.string().optional(),
  createdAt: z.number().int(),
});
export type RefundView = z.infer<typeof RefundView>;

/** A page boundary: the last refund's `createdAt:id`. */
const RefundCursor = z
  .string()
  .regex(/^\d{1,16}:[\x21-\x7e]{1,64}$/, 'after: the `next` cursor of the previous page (createdAt:id)')
  .transform((c) => {
    const colon = c.indexOf(':');
    return { createdAt: Number(c.slice(0, colon)), id: c.slice(colon + 1) };
  });

export const RefundListQuery = z
  .object({
    /** failed: declined, waiting for an operator; pending: not paid yet (lastError set when the provider did not answer). */
    state: z.enum(['failed', 'pending']).default('failed'),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    after: RefundCursor.optional(),
  })
  .strict();

export const RefundPage = z.object({
  refunds: z.array(RefundView),
  /** Present when the page is full: the cursor of the next page. */
  next: z.string().optional(),
});
export type RefundPage = z.infer<typeof RefundPage>;

export function refundView(r: RefundRecord): RefundView {
  const v: RefundView = { id: r.id, orderId: r.orderId, amountCents: r.amountCents, state: r.state, reason: r.reason, retries: r.retries ?? 0, unanswered: r.unanswered ?? 0, createdAt: r.createdAt };
  if (r.lastError !== undefined) v.lastError = r.lastError;
  return v;
}
