import type { FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { aftershipProvider } from '../../tracking/providers/aftership-adapter.js';
import { easypostProvider } from '../../tracking/providers/easypost-adapter.js';
import type { WebhookParse, WebhookProvider } from '../../tracking/providers/webhook-provider.js';
import { promiseOnLastScan } from '../../tracking/promise-revise.js';
import type { RawTrackingPayload } from '../../tracking/tracking-event.js';
import { TrackingTally } from '../../tracking/tracking-metrics.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { ErrorBody } from '../error-body.js';

// Tracking-provider webhooks: POST /tracking/webhooks/{easypost,aftership}. Providers sign the
// raw body with an HMAC and cannot send our API key, so the auth hook lets these two routes
// through (auth/route-roles.ts, signedRoutes) and the route checks the signature itself:
//   1. the provider's secret and the tracking intake must be configured, else 503 (providers
//      retry on non-2xx, so nothing is lost while an operator fixes the configuration);
//   2. the HMAC over the exact bytes received, else 401, logged, not dead-lettered (the body
//      is not known to come from the provider);
//   3. the provider adapter: malformed → 400 with the reason, payload dead-lettered; not a
//      tracking update (EasyPost batch.updated, AfterShip tracking_pending_time…) → 200, ignored;
//      a revised promise with no scan (AfterShip edd_revise) → a copy of the scan the state
//      rests on with the new promise (tracking/promise-revise.ts), accepted like a scan; none
//      to revise (no scan yet) → 200, ignored, logged and counted (promise_unanchored);
//      otherwise the intake persists the raw payload and its events and we answer 200
//      (accept, persist, acknowledge; applying them to the timeline happens after).
// The raw bytes come from a content-type parser that exists only inside this plugin.

export const WebhookReceipt = z.object({
  status: z.enum(['accepted', 'ignored']),
  /** The provider's event type (EasyPost `description`, AfterShip `event`). */
  eventType: z.string(),
  /** Stored raw payload the events reference (accepted only). */
  payloadId: z.string().optional(),
  received: z.number().int().nonnegative(),
  /** Provider records left out: no canonical meaning (e.g. EasyPost `unknown`, AfterShip `Pending`), or unreadable. */
  skipped: z.number().int().nonnegative(),
  /** Present when some records could not be read: the payload is kept as this dead letter (the readable ones were taken). */
  deadLetterId: z.string().optional(),
});
export type WebhookReceipt = z.infer<typeof WebhookReceipt>;

const responses = { 200: WebhookReceipt, 400: ErrorBody, 401: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody } as const;

const errorBody = (code: string, message: string, details?: Record<string, unknown>): ErrorBody => ({ error: { code, message, ...(details === undefined ? {} : { details }) } });

export function trackingWebhookRoutes(d: AppDeps): (scope: App) => Promise<void> {
  const log = d.logger.child({ component: 'tracking-webhooks' });

  type Answer = { code: 200; body: WebhookReceipt } | { code: 400 | 401 | 503; body: ErrorBody };

  async function handle(provider: WebhookProvider, secret: string | undefined, req: FastifyRequest): Promise<Answer> {
    const source = provider.source;
    const intake = d.trackingIntake ?? d.tracking.intake;
    if (secret === undefined) {
      log.warn({ source, missing: 'secret' }, 'tracking.webhook_unavailable');
      return { code: 503, body: errorBody('NOT_CONFIGURED', `${source} webhooks are not configured on this backend`) };
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const header = req.headers[provider.signatureHeader];
    const check = provider.verifySignature(raw, typeof header === 'string' ? header : undefined, secret);
    if (!check.ok) {
      log.warn({ source, reason: check.reason, ip: req.ip, bytes: raw.length }, 'tracking.webhook_rejected');
      return { code: 401, body: errorBody('INVALID_SIGNATURE', `${provider.signatureHeader} is missing or does not match the body`) };
    }
    const payload: RawTrackingPayload = { source, body: raw.toString('utf8'), receivedAt: d.clock.now() };
    const parsed = parseBody(provider, payload.body);
    if (parsed.kind === 'malformed') {
      const { deadLetterId } = await intake.deadLetter(payload, parsed.reason);
      log.warn({ source, reason: parsed.reason, deadLetterId }, 'tracking.webhook_dead_lettered');
      return { code: 400, body: errorBody('INVALID_INPUT', parsed.reason, { deadLetterId }) };
    }
    if (parsed.kind === 'ignored') {
      log.info({ source, eventType: parsed.eventType, ...(parsed.reason === undefined ? {} : { reason: parsed.reason }) }, 'tracking.webhook_ignored');
      return { code: 200, body: { status: 'ignored', eventType: parsed.eventType, received: 0, skipped: 0 } satisfies WebhookReceipt };
    }
    if (parsed.kind === 'promise') {
      const { trackingNumber, eventType } = parsed;
      const anchor = await promiseOnLastScan(d.store.tracking, trackingNumber, parsed.estimatedDeliveryAt);
      if (!anchor.ok) {
        const tally = new TrackingTally();
        tally.count('promise_unanchored');
        d.tracking.metrics.record(tally);
        log.info({ source, trackingNumber, eventType, reason: anchor.reason }, 'tracking.promise_unanchored');
        return { code: 200, body: { status: 'ignored', eventType, received: 0, skipped: 0 } satisfies WebhookReceipt };
      }
      // Ordered among the scan's revisions by when the provider made it: an older revision
      // retried after a newer one sorts before it and changes nothing (tracking-applier.ts).
      // Received now all the same (apply lag, purges, poll schedule): AfterShip retries for hours.
      const receipt = await intake.accept(payload, [anchor.event], { revisedAt: parsed.revisedAt ?? payload.receivedAt });
      log.info({ source, trackingNumber, eventType, payloadId: receipt.payloadId }, 'tracking.webhook_promise_accepted');
      return { code: 200, body: { status: 'accepted', eventType, payloadId: receipt.payloadId, received: receipt.received, skipped: 0 } satisfies WebhookReceipt };
    }
    const { trackingNumber, events, skipped, eventType } = parsed;
    if (skipped.length > 0) log.info({ source, trackingNumber, skipped: skipped.length, first: skipped.slice(0, 5) }, 'tracking.webhook_records_skipped');
    // Records that cannot be read are kept for someone to look at, with the payload they came
    // in; the payload's readable scans are taken all the same.
    const unreadable = skipped.filter((r) => r.kind === 'unreadable');
    let deadLetterId: string | undefined;
    if (unreadable.length > 0) {
      const reason = `${String(unreadable.length)} unreadable record(s), the others taken: ${unreadable
        .slice(0, 5)
        .map((r) => r.reason)
        .join('; ')}`.slice(0, 2000);
      ({ deadLetterId } = await intake.deadLetter(payload, reason));
      log.warn({ source, trackingNumber, unreadable: unreadable.length, deadLetterId, first: unreadable[0]?.reason }, 'tracking.webhook_records_unreadable');
    }
    const kept = deadLetterId === undefined ? {} : { deadLetterId };
    if (events.length === 0) {
      log.info({ source, trackingNumber, eventType }, 'tracking.webhook_no_scans');
      return { code: 200, body: { status: 'ignored', eventType, received: 0, skipped: skipped.length, ...kept } satisfies WebhookReceipt };
    }
    const receipt = await intake.accept(payload, events);
    log.info({ source, trackingNumber, eventType, events: events.length, payloadId: receipt.payloadId }, 'tracking.webhook_accepted');
    return { code: 200, body: { status: 'accepted', eventType, payloadId: receipt.payloadId, received: receipt.received, skipped: skipped.length, ...kept } satisfies WebhookReceipt };
  }

  return (scope: App): Promise<void> => {
    // Only in this encapsulated scope: every body stays the exact bytes received, whatever its
    // content type, because the HMAC covers those bytes. The app's body limit still applies.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
      done(null, body);
    });
    const r = scope.withTypeProvider<ZodTypeProvider>();
    const route = (provider: WebhookProvider, secret: () => string | undefined, summary: string, headerDoc: string): void => {
      r.post(
        `/tracking/webhooks/${provider.source}`,
        {
          schema: {
            tags: ['tracking'],
            summary,
            description: `Authenticated by the provider's HMAC signature in \`${provider.signatureHeader}\` (${headerDoc}), not by an API key. The body is the provider's JSON exactly as documented by the provider. 503 while no secret is configured.`,
            headers: z.object({ [provider.signatureHeader]: z.string().optional() }),
            response: responses,
          },
        },
        async (req, reply) => {
          const answer = await handle(provider, secret(), req);
          reply.code(answer.code);
          return answer.body;
        },
      );
    };
    route(easypostProvider, () => d.trackingWebhooks?.easypost?.secret, 'EasyPost tracker events (tracker.created, tracker.updated)', 'hmac-sha256-hex=<hex HMAC-SHA256 of the body>');
    route(aftershipProvider, () => d.trackingWebhooks?.aftership?.secret, 'AfterShip tracking webhooks (tracking_update, edd_revise)', 'base64 HMAC-SHA256 of the body');
    return Promise.resolve();
  };
}

function parseBody(provider: WebhookProvider, text: string): WebhookParse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', reason: `body is not JSON: ${err instanceof Error ? err.message : 'unparseable'}` };
  }
  return provider.parse(json);
}
