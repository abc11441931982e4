import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LockerId } from '../../lockers/locker-schemas.js';
import { Command, MAX_COMMAND_LIFETIME_MS } from '../../shared/contract.js';
import type { CommandRecord } from '../../store/records.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

const CommandView = z.object({
  transactionId: z.string(),
  lockerId: z.string(),
  command: z.record(z.string(), z.unknown()),
  state: z.enum(['pending', 'replied', 'expired']),
  reply: z.record(z.string(), z.unknown()).optional(),
  attempts: z.number().int(),
  expiresAt: z.number().int(),
  createdAt: z.number().int(),
});

function view(c: CommandRecord): z.infer<typeof CommandView> {
  const v: z.infer<typeof CommandView> = { transactionId: c.transactionId, lockerId: c.lockerId, command: c.command, state: c.state, attempts: c.attempts, expiresAt: c.expiresAt, createdAt: c.createdAt };
  if (c.reply !== undefined) v.reply = c.reply;
  return v;
}

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
          `ttlMs at most ${String(MAX_COMMAND_LIFETIME_MS)} (5 minutes): a longer lifetime is refused with 422.`,
        params: z.object({ lockerId: LockerId }),
        // No max here: a too-long lifetime is a business rule (422 from the command service), not a malformed body.
        body: z.object({ command: Command, ttlMs: z.number().int().positive().default(120_000) }).strict(),
        response: { 202: CommandView, ...errorResponses },
      },
    },
    async (req, reply) => {
      const c = await d.commands.send(req.params.lockerId, req.body.command, 'support', req.body.ttlMs);
      reply.code(202);
      return view(c);
    },
  );
  r.get(
    '/lockers/:lockerId/commands/:transactionId',
    { schema: { tags: ['lockers'], params: z.object({ lockerId: LockerId, transactionId: z.string().min(1).max(64) }), response: { 200: CommandView, ...errorResponses } } },
    async (req) => view(await d.commands.get(req.params.transactionId)),
  );
}
