import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CancelRequest, CreateShipmentRequest, OrderView, PlaceOrderRequest, ShipmentView, StateLogView } from '../../orders/order-schemas.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';
import { callersKey, IdempotencyHeaders } from './idempotency-headers.js';

const Params = z.object({ orderId: z.string().min(1).max(64) });

export function orderRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/orders',
    {
      schema: {
        tags: ['orders'],
        summary: 'Place an order, confirming its checkout holds',
        headers: IdempotencyHeaders,
        body: PlaceOrderRequest,
        response: { 201: OrderView, ...errorResponses },
      },
    },
    async (req, reply) => {
      const result = await d.orders.place(callersKey(req, req.headers['idempotency-key']), req.body);
      if (result.replayed) void reply.header('idempotent-replayed', 'true');
      reply.code(201);
      return result.body;
    },
  );
  r.get('/orders/:orderId', { schema: { tags: ['orders'], params: Params, response: { 200: OrderView, ...errorResponses } } }, (req) => d.orders.get(req.params.orderId));
  r.get(
    '/orders/:orderId/history',
    { schema: { tags: ['orders'], summary: 'Append-only state log of the order and its shipments', params: Params, response: { 200: StateLogView, ...errorResponses } } },
    (req) => d.orders.history(req.params.orderId),
  );
  r.post(
    '/orders/:orderId/payment-confirmation',
    { schema: { tags: ['orders'], summary: 'Capture the payment and mark the order paid', params: Params, response: { 200: OrderView, ...errorResponses } } },
    (req) => d.orders.confirmPayment(req.params.orderId, 'merchant'),
  );
  r.post(
    '/orders/:orderId/processing',
    { schema: { tags: ['orders'], summary: 'The warehouse started picking', params: Params, response: { 200: OrderView, ...errorResponses } } },
    (req) => d.orders.startProcessing(req.params.orderId, 'merchant'),
  );
  r.post(
    '/orders/:orderId/cancellation',
    {
      schema: { tags: ['orders'], summary: 'Cancel the whole order or some lines/shipments before they ship', params: Params, body: CancelRequest, response: { 200: OrderView, ...errorResponses } },
    },
    (req) => d.orders.cancel(req.params.orderId, req.body, 'merchant'),
  );
  r.post(
    '/orders/:orderId/shipments',
    {
      schema: {
        tags: ['shipments'],
        summary: 'Create a shipment: assigns a compartment and issues the pickup code',
        params: Params,
        body: CreateShipmentRequest,
        response: { 201: ShipmentView, ...errorResponses },
      },
    },
    (req, reply) => {
      reply.code(201);
      return d.shipments.create(req.params.orderId, req.body, 'merchant');
    },
  );
}
