import { z } from 'zod';
import type { CommandRecord } from '../store/records.js';

// What the API answers about a command: the route's response schema, and the schema an
// idempotent send's stored answer is read back through (shared/idempotency.ts). The
// record's epoch, lease and actor stay inside the backend.

export const CommandView = z.object({
  transactionId: z.string(),
  lockerId: z.string(),
  command: z.record(z.string(), z.unknown()),
  state: z.enum(['pending', 'replied', 'expired']),
  reply: z.record(z.string(), z.unknown()).optional(),
  attempts: z.number().int(),
  expiresAt: z.number().int(),
  createdAt: z.number().int(),
});
export type CommandView = z.infer<typeof CommandView>;

export function commandView(c: CommandRecord): CommandView {
  const v: CommandView = { transactionId: c.transactionId, lockerId: c.lockerId, command: c.command, state: c.state, attempts: c.attempts, expiresAt: c.expiresAt, createdAt: c.createdAt };
  if (c.reply !== undefined) v.reply = c.reply;
  return v;
}
