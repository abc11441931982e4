import fastifySwagger from '@fastify/swagger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type RawServerDefault } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from '../shared/logger.js';
import type { AppDeps } from './app-deps.js';
import { isSignedRoute, rolesFor } from '../auth/route-roles.js';
import { installAuthHook } from './auth-hook.js';
import { installErrorHandler } from './error-handler.js';
import { probeDb } from './health.js';
import { DbAlignedClock } from '../shared/db-clock.js';
import { adminRoutes } from './routes/admin-routes.js';
import { commandRoutes } from './routes/command-routes.js';
import { customerOrderRoutes } from './routes/customer-order-routes.js';
import { deadLetterRoutes } from './routes/dead-letter-routes.js';
import { lockerRoutes } from './routes/locker-routes.js';
import { orderRoutes } from './routes/order-routes.js';
import { refundRoutes } from './routes/refund-routes.js';
import { reservationRoutes } from './routes/reservation-routes.js';
import { shipmentRoutes } from './routes/shipment-routes.js';
import { trackingRoutes } from './routes/tracking-routes.js';
import { trackingWebhookRoutes } from './routes/tracking-webhook-routes.js';

// The HTTP API. Every body, query, params and header set is a zod schema (validated by
// fastify-type-provider-zod, typed from the same schema), responses are serialised through
// their schemas, and the OpenAPI document is generated from them (docs/openapi.json).

export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse<IncomingMessage>, Logger>;

export async function buildApp(deps: AppDeps): Promise<App> {
  const app: App = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }),
    // Requests are not logged one by one: services log the events that matter, with fields.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 256 * 1024,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'Parcel locker backend bridge', version: '1.0.0', description: 'Lockers, reservations, orders, shipments and pickup codes. See docs/backend.md.' },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key issued to a caller with roles merchant, carrier, customer-page and/or admin; each operation lists the roles it admits.' },
        },
      },
    },
    // Every documented operation needs a key; its description says which roles it admits.
    transform: (arg) => {
      const out = jsonSchemaTransform(arg);
      if (isSignedRoute(String(arg.route.method), arg.url)) return { ...out, schema: { ...out.schema, security: [] } };
      const roles = rolesFor(String(arg.route.method), arg.url);
      const described = typeof out.schema['description'] === 'string' ? `${out.schema['description']} ` : '';
      return { ...out, schema: { ...out.schema, security: [{ apiKey: [] }], description: `${described}Roles: ${roles.join(', ') || 'none'}.` } };
    },
  });
  installErrorHandler(app, deps.logger);
  const limiter = deps.rateLimiter;
  if (limiter !== undefined) {
    app.addHook('onRequest', (req, _reply, done) => {
      if (req.url === '/health') return done();
      try {
        limiter.check(req.ip);
        done();
      } catch (err) {
        done(err as Error);
      }
    });
  }
  // After the rate limiter, so guessing keys is throttled like everything else.
  if (deps.auth !== undefined) installAuthHook(app, deps.auth, deps.logger);
  else deps.logger.child({ component: 'http' }).warn({}, 'http.auth_disabled');
  const healthLog = deps.logger.child({ component: 'http' });
  app.get('/health', { schema: { hide: true } }, async (_req, reply) => {
    const mqtt = deps.mqttConnected?.();
    // Still 200 without a signing key: searches, holds and tracking work; shipments and
    // code batches answer 503 SIGNING_UNAVAILABLE (KeyStore.followRevocations).
    const signing = deps.keys.signingAvailable;
    // 503 without the database: every request would fail, so a load balancer should send
    // traffic elsewhere. The process keeps running and answers 200 again once the pool
    // reconnects (docs/operations.md, "PostgreSQL outage").
    const { db, reason } = await probeDb(deps.store);
    if (db !== 'ok') {
      healthLog.warn({ reason }, 'health.db_unavailable');
      void reply.code(503);
    }
    const status = db !== 'ok' ? 'unavailable' : signing ? 'ok' : 'degraded';
    // How far this host's clock is off the database's (which decisions go by): a broken NTP shows here.
    const aligned = deps.clock instanceof DbAlignedClock ? deps.clock.alignment : undefined;
    return { status, db, mqtt: mqtt === undefined ? 'disabled' : mqtt ? 'connected' : 'disconnected', signing: signing ? 'ok' : 'unavailable', time: deps.clock.now(), ...(aligned === undefined ? {} : { clockOffsetMs: aligned.hostSkewMs }) };
  });
  // The API's own description, open like /health: integrators need it before they hold a key.
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());
  // Prometheus text format; scraped with an admin key (Prometheus `authorization.credentials`).
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    void reply.header('content-type', deps.metrics.contentType);
    return deps.metrics.render();
  });
  lockerRoutes(app, deps);
  reservationRoutes(app, deps);
  orderRoutes(app, deps);
  customerOrderRoutes(app, deps);
  shipmentRoutes(app, deps);
  trackingRoutes(app, deps);
  commandRoutes(app, deps);
  adminRoutes(app, deps);
  deadLetterRoutes(app, deps);
  refundRoutes(app, deps);
  await app.register(trackingWebhookRoutes(deps));
  await app.ready();
  return app;
}
