import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CommandView, commandView as view } from '../../locker-sync/command-view.js';
import { LockerId } from '../../lockers/locker-schemas.js';
import { Command, MAX_COMMAND_LIFETIME_MS } from '../../shared/contract.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';
import { callersKey, OptionalIdempotencyHeaders } from './idempotency-headers.js';

export function commandRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.post(
    '/lockers/:lockerId/commands',
    {
      schema: {
        tags: ['lockers'],
        summary: 'Send a signed command (support remote open, resync, health report); retried until the locker replies',
        description:
          `Signed for the locker's current database epoch (from its presence); 409 before the locker was ever online. ` +
          `ttlMs at most ${String(MAX_COMMAND_LIFETIME_MS)} (5 minutes): a longer lifetime is refused with 422. ` +
          'With an Idempotency-Key, a retry with the same body answers the first command again (Idempotent-Replayed: true) instead of sending a second one; ' +
          'the same key with another body is refused with 422.',
        headers: OptionalIdempotencyHeaders,
        params: z.object({ lockerId: LockerId }),
        // No max here: a too-long lifetime is a business rule (422 from the command service), not a malformed body.
        body: z.object({ command: Command, ttlMs: z.number().int().positive().default(120_000) }).strict(),
        response: { 202: CommandView, ...errorResponses },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      reply.code(202);
      if (key === undefined) return view(await d.commands.send(req.params.lockerId, req.body.command, 'support', req.body.ttlMs));
      const result = await d.commands.sendIdempotent(callersKey(req, key), req.params.lockerId, req.body.command, 'support', req.body.ttlMs);
      if (result.replayed) void reply.header('idempotent-replayed', 'true');
      return result.body;
    },
  );
  r.get(
    '/lockers/:lockerId/commands/:transactionId',
    { schema: { tags: ['lockers'], params: z.object({ lockerId: LockerId, transactionId: z.string().min(1).max(64) }), response: { 200: CommandView, ...errorResponses } } },
    async (req) => view(await d.commands.ofLocker(req.params.lockerId, req.params.transactionId)),
  );
}
