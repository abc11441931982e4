import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ReservationRequest, ReservationView } from '../../reservations/reservation-schemas.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';
import { callersKey, IdempotencyHeaders } from './idempotency-headers.js';

const Params = z.object({ reservationId: z.string().min(1).max(64) });

export function reservationRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/reservations',
    {
      schema: {
        tags: ['reservations'],
        summary: 'Hold a compartment of a size at a locker for a checkout (expires unless confirmed by an order)',
        headers: IdempotencyHeaders,
        body: ReservationRequest,
        response: { 201: ReservationView, ...errorResponses },
      },
    },
    async (req, reply) => {
      const result = await d.reservations.reserveGrouped(callersKey(req, req.headers['idempotency-key']), req.body);
      if (result.replayed) void reply.header('idempotent-replayed', 'true');
      reply.code(201);
      return result.body;
    },
  );
  r.get('/reservations/:reservationId', { schema: { tags: ['reservations'], params: Params, response: { 200: ReservationView, ...errorResponses } } }, (req) =>
    d.reservations.get(req.params.reservationId),
  );
  r.delete(
    '/reservations/:reservationId',
    { schema: { tags: ['reservations'], summary: 'Release a hold (checkout abandoned)', params: Params, response: { 200: ReservationView, ...errorResponses } } },
    (req) => d.reservations.release(req.params.reservationId, 'checkout', 'released by client'),
  );
}
