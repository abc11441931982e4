import type { Role } from './roles.js';

// The one table of which roles may call which route (method + fastify route pattern).
// A route missing here admits nobody: a new route is closed until someone decides.
// /health is not listed: it is open (see http/auth-hook.ts).

const M: Role = 'merchant';
const C: Role = 'carrier';
const P: Role = 'customer-page';
const A: Role = 'admin';

export const routeRoles: Readonly<Record<string, readonly Role[]>> = {
  'POST /lockers': [A],
  'GET /lockers': [A],
  'GET /lockers/search': [M, P, A],
  'GET /lockers/:lockerId': [M, C, P, A],
  'PUT /lockers/:lockerId/status': [A],
  'POST /lockers/:lockerId/courier-credentials': [C, A],
  'GET /lockers/:lockerId/code-set': [A],
  'POST /lockers/:lockerId/commands': [A],
  'GET /lockers/:lockerId/commands/:transactionId': [A],
  'POST /reservations': [M],
  'GET /reservations/:reservationId': [M],
  'DELETE /reservations/:reservationId': [M],
  'POST /orders': [M],
  'GET /orders/:orderId': [M, P],
  'GET /orders/:orderId/history': [M, A],
  'GET /customers/:customerId/orders': [P, A],
  'POST /orders/:orderId/payment-confirmation': [M],
  'POST /orders/:orderId/processing': [M],
  'POST /orders/:orderId/cancellation': [M],
  'POST /orders/:orderId/shipments': [M],
  'GET /shipments/:shipmentId': [M, C, P],
  'POST /shipments/:shipmentId/events': [C],
  'POST /shipments/:shipmentId/pickup-extension': [M, P],
  'POST /shipments/:shipmentId/return': [M, P],
  'POST /shipments/:shipmentId/retrieval-token': [C, A],
  'POST /tracking/events': [C],
  'GET /track/:trackingNumber': [P, A],
  'GET /alerts': [A],
  'GET /metrics': [A],
  'POST /admin/keys/:kid/revocation': [A],
  'POST /admin/keys/reload': [A],
  'GET /admin/refunds': [A],
  'GET /admin/tracking/dead-letters': [A],
  'GET /admin/tracking/dead-letters/:deadLetterId': [A],
  'POST /admin/tracking/dead-letters/:deadLetterId/replay': [A],
  'POST /admin/refunds/:refundId/retry': [A],
};

/**
 * Routes that authenticate by their caller's own signature instead of an API key: tracking
 * providers sign each webhook with an HMAC of the body (http/routes/tracking-webhook-routes.ts)
 * and cannot send our bearer key. The auth hook lets them through; the route checks the HMAC.
 */
export const signedRoutes: ReadonlySet<string> = new Set(['POST /tracking/webhooks/easypost', 'POST /tracking/webhooks/aftership']);

export function isSignedRoute(method: string, routeUrl: string | undefined): boolean {
  return routeUrl !== undefined && signedRoutes.has(`${method.toUpperCase()} ${routeUrl}`);
}

export function rolesFor(method: string, routeUrl: string): readonly Role[] {
  return routeRoles[`${method.toUpperCase()} ${routeUrl}`] ?? [];
}
