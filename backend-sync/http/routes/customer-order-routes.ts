import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { CustomerOrderPage, CustomerOrdersParams, CustomerOrdersQuery, listCustomerOrders } from '../../orders/customer-orders.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

export function customerOrderRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/customers/:customerId/orders',
    {
      schema: {
        tags: ['orders'],
        summary: "A customer's orders, newest first: filter by status, creation time [from, to) and tracking number; keyset pages (after = nextCursor)",
        description: 'customerId is the id the merchant gave in customer.customerId, or the customer email (matched case-insensitively) for orders placed without one.',
        params: CustomerOrdersParams,
        querystring: CustomerOrdersQuery,
        response: { 200: CustomerOrderPage, ...errorResponses },
      },
    },
    (req) => listCustomerOrders(d.store, req.params.customerId, req.query),
  );
}
