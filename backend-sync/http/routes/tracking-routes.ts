import type { IncomingMessage } from 'node:http';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BackendError } from '../../shared/errors.js';
import { TrackView, etaPassed, readModelRow, trackViewOf } from '../../tracking/read-model.js';
import { etaFor, type EtaWindow } from '../../tracking/eta-seam.js';
import type { ReadModelRow } from '../../tracking/tracking-store.js';
import { CanonicalTrackingBatch, LOCKER_EVENT_ID_PREFIX, TrackingNumber } from '../../tracking/tracking-event.js';
import type { AppDeps } from '../app-deps.js';
import type { App } from '../app.js';
import { errorResponses } from '../error-body.js';
import { ifNoneMatchHits } from '../if-none-match.js';

// Tracking over HTTP: our own canonical webhook format in (accept, persist, acknowledge,
// then apply) and the tracking page's read path out. GET /track is one point lookup of the
// read model; its document is sent as stored (no re-serialisation), with an ETag.

const Receipt = z.object({ payloadId: z.string(), received: z.number().int() });
const TrackParams = z.object({ trackingNumber: TrackingNumber });

/** The stored document, typed as the response it already is (its JSON was written from a TrackView). */
const storedJson = (docJson: string): TrackView => docJson as unknown as TrackView;

const HOUR_MS = 3_600_000;
const hourStart = (ms: number): number => Math.floor(ms / HOUR_MS) * HOUR_MS;

/**
 * A late parcel's window in whole hours: it is "from now on", so its values move every
 * millisecond; these move only on the hour (so its ETag, and the 304s, hold for an hour).
 * The ETA is the next hour, the window keeps its width rounded up to hours, and the
 * earliest is the start of this hour (it may still come now).
 */
function inWholeHours(w: EtaWindow): EtaWindow {
  const eta = hourStart(w.eta) + HOUR_MS;
  return { ...w, eta, earliest: Math.min(hourStart(w.earliest), eta), latest: eta + Math.ceil((w.latest - w.eta) / HOUR_MS) * HOUR_MS };
}

/**
 * What of a re-estimate moves with the clock, in whole hours: a late one is "from now on"
 * (inWholeHours); one still ahead may have its earliest pinned to now (the start of this
 * hour then). The rest is served as the estimator made it.
 */
function steady(w: EtaWindow, now: number): EtaWindow {
  if (w.eta <= now) return inWholeHours(w);
  return w.earliest <= now ? { ...w, earliest: hourStart(w.earliest) } : w;
}

export function trackingRoutes(app: App, d: AppDeps): void {
  // A stored ETA that has gone by (the parcel went quiet: the document is written only when a
  // scan comes) is estimated again from the projection, for this answer only: the applier
  // owns the read model, and a GET writing it could put an older state back.
  const estimatedAgain = async (stored: ReadModelRow): Promise<ReadModelRow> => {
    const doc = JSON.parse(stored.docJson) as { trackingNumber?: unknown };
    if (typeof doc.trackingNumber !== 'string') return stored;
    const p = await d.store.tracking.projection(doc.trackingNumber);
    if (p === undefined) return stored;
    const w = await etaFor(d.tracking.eta, p.projection);
    return readModelRow(trackViewOf(p.projection, w === undefined ? undefined : steady(w, d.clock.now())));
  };
  // Scoped to these routes: the body is kept as received for the raw-payload table, and
  // JSON that does not parse reaches the handler (to be dead-lettered) instead of being
  // refused before it.
  void app.register((scope, _opts, done) => {
    const raw = new WeakMap<IncomingMessage, { body: string; jsonError?: string }>();
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, parsed) => {
      const text = String(body);
      try {
        const value: unknown = JSON.parse(text);
        raw.set(req.raw, { body: text });
        parsed(null, value);
      } catch (err) {
        raw.set(req.raw, { body: text, jsonError: err instanceof Error ? err.message : 'invalid JSON' });
        parsed(null, undefined);
      }
    });
    const r = scope.withTypeProvider<ZodTypeProvider>();
    r.post(
      '/tracking/events',
      {
        attachValidation: true,
        schema: {
          tags: ['tracking'],
          summary: 'Tracking events in our canonical format (a batch); applied after the acknowledgement',
          body: CanonicalTrackingBatch,
          response: { 202: Receipt, ...errorResponses },
        },
      },
      async (req, reply) => {
        const kept = raw.get(req.raw);
        const payload = { source: 'canonical' as const, body: kept?.body ?? '', receivedAt: d.clock.now() };
        if (req.validationError !== undefined || kept?.jsonError !== undefined) {
          const checked = CanonicalTrackingBatch.safeParse(req.body);
          const reason = kept?.jsonError !== undefined ? `invalid JSON: ${kept.jsonError}` : checked.success ? 'invalid body' : z.prettifyError(checked.error);
          const { deadLetterId } = await d.tracking.intake.deadLetter(payload, reason);
          throw new BackendError('INVALID_INPUT', reason, { deadLetterId });
        }
        // A locker's event id here would be a carrier speaking for our doors: refused, not
        // dead-lettered (nothing to fix and resend). A locker event's own dead letter is
        // resent through POST /admin/tracking/dead-letters/:deadLetterId/replay.
        const posing = req.body.events.find((e) => e.carrierEventId?.startsWith(LOCKER_EVENT_ID_PREFIX) === true);
        if (posing !== undefined) throw new BackendError('FORBIDDEN', 'locker event ids are reserved for our lockers (replay a locker dead letter through POST /admin/tracking/dead-letters/{deadLetterId}/replay)', { carrierEventId: posing.carrierEventId });
        const receipt = await d.tracking.intake.accept(payload, req.body.events);
        void d.tracking.applier.kick();
        reply.code(202);
        return receipt;
      },
    );
    r.get(
      '/track/:trackingNumber',
      {
        schema: {
          tags: ['tracking'],
          summary: 'Where a parcel is: status, last location, ETA and recent history (ETag; 304 on If-None-Match)',
          params: TrackParams,
          response: { 200: TrackView, 304: z.null().describe('Not modified: the If-None-Match ETag is current'), ...errorResponses },
        },
      },
      async (req, reply) => {
        // In capitals, as every number is stored (TrackingNumber): `1z…` finds `1Z…`.
        const stored = await d.store.tracking.readModel(req.params.trackingNumber);
        if (stored === undefined) throw new BackendError('NOT_FOUND', 'tracking number not found', { trackingNumber: req.params.trackingNumber });
        const row = etaPassed(stored.docJson, d.clock.now()) ? await estimatedAgain(stored) : stored;
        void reply.header('etag', row.etag).header('cache-control', 'no-cache');
        if (ifNoneMatchHits(req.headers['if-none-match'], row.etag)) return reply.code(304).send(null);
        // Stored already as the schema's JSON (read-model.ts): sent as it is.
        return reply.header('content-type', 'application/json; charset=utf-8').serializer((p: unknown) => p as string).send(storedJson(row.docJson));
      },
    );
    done();
  });
}
