import type { FastifyRequest } from 'fastify';
import type { ApiKeyAuth, Principal } from '../auth/api-key-auth.js';
import { isSignedRoute, rolesFor } from '../auth/route-roles.js';
import type { Logger } from '../shared/logger.js';
import type { App } from './app.js';

// Every request except OPEN_PATHS and the signed webhook routes (auth/route-roles.ts) must carry a bearer API key whose role the route admits
// (auth/route-roles.ts). Runs on onRequest, before the body is parsed, so an anonymous
// caller costs no parsing and learns nothing about the routes (unknown routes answer 401
// before 404). Denials are logged with the key's id, never with the key.

/** Answered without a key: the liveness probe and the API description. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/openapi.json']);

// The caller each authenticated request was made by, for what routes scope by caller
// (Idempotency-Keys). Held beside the request rather than decorated onto it: nothing else
// can set it.
const principals = new WeakMap<FastifyRequest, Principal>();

/** The authenticated caller of `req`; undefined on open and signed routes, and when the app runs without API keys. */
export function principalOf(req: FastifyRequest): Principal | undefined {
  return principals.get(req);
}

export function installAuthHook(app: App, auth: ApiKeyAuth, logger: Logger): void {
  const log = logger.child({ component: 'auth' });
  app.addHook('onRequest', (req, _reply, done) => {
    if (OPEN_PATHS.has(req.url)) return done();
    // Provider webhooks carry an HMAC, not our key: the route itself verifies it.
    if (isSignedRoute(req.method, req.routeOptions.url)) return done();
    try {
      const principal = auth.authenticate(req.headers.authorization);
      const route = req.routeOptions.url;
      auth.authorize(principal, route === undefined ? principal.roles : rolesFor(req.method, route));
      principals.set(req, principal);
      done();
    } catch (err) {
      log.warn({ method: req.method, route: req.routeOptions.url ?? 'unknown', ip: req.ip, reason: err instanceof Error ? err.message : 'denied' }, 'http.auth_denied');
      done(err as Error);
    }
  });
}
