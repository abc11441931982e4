import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { reloadSigningKeys } from '../../codes/key-reload.js';
import { revokeSigningKey } from '../../codes/key-revocation.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

export function adminRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/alerts',
    {
      schema: {
        tags: ['admin'],
        summary: 'Security and fault alerts raised from locker events',
        querystring: z.object({ lockerId: z.string().max(63).optional() }).strict(),
        response: { 200: z.object({ alerts: z.array(z.object({ id: z.string(), lockerId: z.string(), kind: z.string(), details: z.record(z.string(), z.unknown()), at: z.number().int() })) }), ...errorResponses },
      },
    },
    async (req) => ({ alerts: await d.store.alerts.list(req.query.lockerId) }),
  );
  r.post(
    '/admin/keys/:kid/revocation',
    {
      schema: {
        tags: ['admin'],
        summary: 'Revoke a signing key everywhere and re-issue the live tokens it signed',
        params: z.object({ kid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }),
        response: { 200: z.object({ kid: z.string(), reissued: z.number().int() }), ...errorResponses },
      },
    },
    async (req) => ({ kid: req.params.kid, ...(await revokeSigningKey(req.params.kid, { store: d.store, keys: d.keys, tokens: d.tokens, codeSets: d.codeSets, clock: d.clock, logger: d.logger })) }),
  );
  r.post(
    '/admin/keys/reload',
    {
      schema: {
        tags: ['admin'],
        summary: 'Re-read the keys directory (new signing key, data key) without a restart; the new keyring goes out to every locker',
        response: { 200: z.object({ activeKid: z.string(), previousKid: z.string(), keyringChanged: z.boolean(), lockersNotified: z.number().int() }), ...errorResponses },
      },
    },
    () => reloadSigningKeys({ store: d.store, keys: d.keys, codeSets: d.codeSets, logger: d.logger }),
  );
}
