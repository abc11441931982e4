import { z } from 'zod';

// Who may call the HTTP API. A key carries one or more roles; each route names the roles
// it admits (route-roles.ts). Roles follow the callers the service was built for, so a
// leaked key exposes only its caller's slice: a shop's key cannot register lockers (and
// read their code pepper), a courier company's key cannot place orders.
export const Role = z.enum([
  /** The shop's checkout and back office: search, reservations, orders, shipments. */
  'merchant',
  /** The courier company: carrier tracking steps, courier credentials, retrieval tokens. */
  'carrier',
  /** The customer-facing page: read a shipment or order, extend the pickup window, start a return. */
  'customer-page',
  /** Operators: locker registration and status, commands, code sets, alerts, key revocation and reload. */
  'admin',
]);
export type Role = z.infer<typeof Role>;
