import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ExtendPickupRequest, RetrievalTokenRequest, ReturnRequest, ShipmentEventRequest, ShipmentView } from '../../orders/order-schemas.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';
import { callersKey, OptionalIdempotencyHeaders } from './idempotency-headers.js';

const Params = z.object({ shipmentId: z.string().min(1).max(64) });

export function shipmentRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get('/shipments/:shipmentId', { schema: { tags: ['shipments'], params: Params, response: { 200: ShipmentView, ...errorResponses } } }, (req) =>
    d.shipments.get(req.params.shipmentId),
  );
  r.post(
    '/shipments/:shipmentId/events',
    { schema: { tags: ['shipments'], summary: 'Carrier tracking steps', params: Params, body: ShipmentEventRequest, response: { 200: ShipmentView, ...errorResponses } } },
    (req) => d.shipments.carrierEvent(req.params.shipmentId, req.body.event, { actor: 'carrier', reason: req.body.reason }),
  );
  r.post(
    '/shipments/:shipmentId/pickup-extension',
    {
      schema: {
        tags: ['shipments'],
        summary: 'Extend the pickup window of a parcel in a locker',
        description:
          'With an Idempotency-Key, a retry with the same body answers the first extension again (Idempotent-Replayed: true) instead of extending a second time; ' +
          'the same key with another body is refused with 422. Without one, every request extends.',
        headers: OptionalIdempotencyHeaders,
        params: Params,
        body: ExtendPickupRequest,
        response: { 200: ShipmentView, ...errorResponses },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      const who = { actor: 'customer' };
      if (key === undefined) return d.shipments.extendPickup(req.params.shipmentId, req.body.extendByMs, who);
      const result = await d.shipments.extendPickupIdempotent(callersKey(req, key), req.params.shipmentId, req.body.extendByMs, who);
      if (result.replayed) void reply.header('idempotent-replayed', 'true');
      return result.body;
    },
  );
  r.post(
    '/shipments/:shipmentId/return',
    { schema: { tags: ['shipments'], summary: 'Start a return: the customer gets a drop-off code', params: Params, body: ReturnRequest, response: { 200: ShipmentView, ...errorResponses } } },
    async (req) => {
      await d.parcels.requestReturn(req.params.shipmentId, req.body.lockerId, { actor: 'customer', reason: req.body.reason });
      return d.shipments.get(req.params.shipmentId);
    },
  );
  r.post(
    '/shipments/:shipmentId/retrieval-token',
    {
      schema: {
        tags: ['shipments'],
        summary: 'Token for a courier to take back an expired or returned parcel',
        params: Params,
        body: RetrievalTokenRequest,
        response: { 201: z.object({ token: z.string(), lockerId: z.string(), compartmentId: z.string(), expiresAt: z.number().int() }), ...errorResponses },
      },
    },
    (req, reply) => {
      reply.code(201);
      return d.parcels.retrievalToken(req.params.shipmentId, req.body.courierId);
    },
  );
}
