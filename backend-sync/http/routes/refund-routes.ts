import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RefundListQuery, RefundPage, RefundView, refundView } from '../../orders/refund-schemas.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

// Refunds an operator acts on: the ones the provider declined (they stay failed until sent
// again) and the ones still waiting to be paid, oldest first, a keyset page at a time.

export function refundRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/admin/refunds',
    {
      schema: {
        tags: ['admin'],
        summary: 'Refunds the provider declined (state=failed, the default) or not paid yet (state=pending), oldest first (pass `next` as `after` for the following page)',
        querystring: RefundListQuery,
        response: { 200: RefundPage, ...errorResponses },
      },
    },
    async (req): Promise<RefundPage> => {
      const { state, limit, after } = req.query;
      const refunds = (await d.store.refunds.page({ state, after, limit })).map(refundView);
      const last = refunds.at(-1);
      return refunds.length === limit && last !== undefined ? { refunds, next: `${String(last.createdAt)}:${last.id}` } : { refunds };
    },
  );
  r.post(
    '/admin/refunds/:refundId/retry',
    {
      schema: {
        tags: ['admin'],
        summary: 'Send a declined refund to the provider again, under a new idempotency key; a refund already queued is left as it is, a paid one is refused',
        params: z.object({ refundId: z.string().min(1).max(64) }),
        response: { 200: RefundView, ...errorResponses },
      },
    },
    async (req) => refundView(await d.orders.retryRefund(req.params.refundId, 'admin')),
  );
}
