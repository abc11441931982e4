import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { reloadSigningKeys } from '../../codes/key-reload.js';
import { revokeSigningKey } from '../../codes/key-revocation.js';
import { replayDeadLetter } from '../../tracking/dead-letter-replay.js';
import { TrackingSource } from '../../tracking/tracking-event.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

// Alerts are kept (one per event worth an operator's look, for years at fleet scale): the
// list is a keyset page, newest first. The cursor is the last alert's `at:id`.
const AlertCursor = z
  .string()
  .regex(/^\d{1,16}:[\x21-\x7e]{1,64}$/, 'before: the `next` cursor of the previous page (at:id)')
  .transform((c) => {
    const colon = c.indexOf(':');
    return { at: Number(c.slice(0, colon)), id: c.slice(colon + 1) };
  });
const AlertsQuery = z
  .object({
    lockerId: z.string().max(63).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
    before: AlertCursor.optional(),
  })
  .strict();

export function adminRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/alerts',
    {
      schema: {
        tags: ['admin'],
        summary: 'Security and fault alerts raised from locker events, newest first, a page at a time (pass `next` as `before` for the older ones)',
        querystring: AlertsQuery,
        response: {
          200: z.object({
            alerts: z.array(z.object({ id: z.string(), lockerId: z.string(), kind: z.string(), details: z.record(z.string(), z.unknown()), at: z.number().int() })),
            /** Present when the page is full: the cursor of the next (older) page. */
            next: z.string().optional(),
          }),
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const { lockerId, limit, before } = req.query;
      const alerts = await d.store.alerts.page({ lockerId, before, limit });
      const last = alerts.at(-1);
      return alerts.length === limit && last !== undefined ? { alerts, next: `${String(last.at)}:${last.id}` } : { alerts };
    },
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
    '/admin/tracking/dead-letters/:deadLetterId/replay',
    {
      schema: {
        tags: ['admin', 'tracking'],
        summary: 'Resend a dead-lettered batch of tracking events through the intake under its original source (a locker event stays a locker event); the dead letter is removed',
        params: z.object({ deadLetterId: z.string().regex(/^tdl_[A-Za-z0-9_-]{1,64}$/) }),
        response: { 202: z.object({ deadLetterId: z.string(), source: TrackingSource, payloadId: z.string(), received: z.number().int() }), ...errorResponses },
      },
    },
    async (req, reply) => {
      const receipt = await replayDeadLetter({ store: d.store, intake: d.tracking.intake, logger: d.logger, now: () => d.clock.now() }, req.params.deadLetterId);
      void d.tracking.applier.kick();
      reply.code(202);
      return receipt;
    },
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
