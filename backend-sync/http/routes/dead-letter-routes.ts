import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DeadLetterDetail, DeadLetterId, DeadLetterPage, DeadLettersQuery, inspectDeadLetter, listDeadLetters } from '../../tracking/dead-letter-list.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';

// Reading the tracking dead letters (admin only, auth/route-roles.ts): an operator lists
// them to find the ids, reads one to see what to fix, then replays it (admin-routes.ts).

export function deadLetterRoutes(app: App, d: AppDeps): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  r.get(
    '/admin/tracking/dead-letters',
    {
      schema: {
        tags: ['admin', 'tracking'],
        summary: 'Tracking dead letters, newest first: filter by source and time received [from, to); keyset pages (after = nextCursor); each with its reason, body size and a preview of the body',
        querystring: DeadLettersQuery,
        response: { 200: DeadLetterPage, ...errorResponses },
      },
    },
    (req) => listDeadLetters({ store: d.store, logger: d.logger }, req.query),
  );
  r.get(
    '/admin/tracking/dead-letters/:deadLetterId',
    {
      schema: {
        tags: ['admin', 'tracking'],
        summary: 'One tracking dead letter with its whole body as stored (it stays in place; replay it with POST …/replay)',
        params: z.object({ deadLetterId: DeadLetterId }),
        response: { 200: DeadLetterDetail, ...errorResponses },
      },
    },
    (req) => inspectDeadLetter({ store: d.store, logger: d.logger }, req.params.deadLetterId),
  );
}
