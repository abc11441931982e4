import { z } from 'zod';
import { BackendError } from '../shared/errors.js';
import { decodeKeysetCursor, decimalQuery, encodeKeysetCursor } from '../shared/keyset-page.js';
import type { Logger } from '../shared/logger.js';
import type { Store } from '../store/store.js';
import { TrackingSource } from './tracking-event.js';

// What an operator needs before a replay (POST /admin/tracking/dead-letters/{id}/replay):
// which dead letters there are, newest first, in keyset pages (a cursor names the last
// letter of a page, so a page never repeats or skips one while new ones arrive), each with
// its reason and only a preview of its body (a provider's payload may be megabytes); then
// one letter's whole body, to see what to fix. Reading never takes a letter: only a replay does.

/** How much of a body a list item shows: enough to recognise a payload, never the payload. */
export const DEAD_LETTER_PREVIEW_CHARS = 200;

/** Dead letter ids as the intake makes them (tracking-intake.ts: `tdl_…`). */
export const DeadLetterId = z.string().regex(/^tdl_[A-Za-z0-9_-]{1,64}$/, 'deadLetterId: tdl_ followed by letters, digits, _ or -');

export const DeadLettersQuery = z
  .object({
    source: TrackingSource.optional(),
    /** Epoch ms received, inclusive. */
    from: decimalQuery('from (epoch milliseconds)').optional(),
    /** Epoch ms received, exclusive. */
    to: decimalQuery('to (epoch milliseconds)').optional(),
    /** nextCursor of the previous page. */
    after: z.string().min(1).max(200).optional(),
    limit: decimalQuery('limit').pipe(z.number().int().min(1).max(100)).default(20).describe('dead letters per page, 1 to 100 (default 20)'),
  })
  .strict()
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, { message: 'from must be before to', path: ['to'] });
export type DeadLettersQuery = z.infer<typeof DeadLettersQuery>;

export const DeadLetterItem = z.object({
  id: z.string(),
  source: TrackingSource,
  reason: z.string(),
  receivedAt: z.number().int(),
  /** The whole body's size in UTF-8 bytes. */
  bodyBytes: z.number().int(),
  /** The body's first DEAD_LETTER_PREVIEW_CHARS characters. */
  bodyPreview: z.string(),
  /** Whether bodyPreview is all of the body. */
  bodyTruncated: z.boolean(),
});
export type DeadLetterItem = z.infer<typeof DeadLetterItem>;

export const DeadLetterPage = z.object({
  deadLetters: z.array(DeadLetterItem),
  /** Present when there may be more: pass it as `after`. */
  nextCursor: z.string().optional(),
});
export type DeadLetterPage = z.infer<typeof DeadLetterPage>;

export const DeadLetterDetail = z.object({
  id: z.string(),
  source: TrackingSource,
  reason: z.string(),
  receivedAt: z.number().int(),
  bodyBytes: z.number().int(),
  /** As stored: a canonical batch `{"events":[…]}` or a provider's raw payload. */
  body: z.string(),
});
export type DeadLetterDetail = z.infer<typeof DeadLetterDetail>;

function receivedAtCursor(after: string): { receivedAt: number; id: string } {
  const { at, id } = decodeKeysetCursor(after, 80);
  return { receivedAt: at, id };
}

export async function listDeadLetters(d: { store: Store; logger: Logger }, q: DeadLettersQuery): Promise<DeadLetterPage> {
  // One more than asked tells whether another page exists without a count.
  const rows = await d.store.tracking.listDeadLetters({
    source: q.source,
    from: q.from,
    to: q.to,
    after: q.after === undefined ? undefined : receivedAtCursor(q.after),
    limit: q.limit + 1,
    previewChars: DEAD_LETTER_PREVIEW_CHARS,
  });
  const page = rows.slice(0, q.limit);
  const deadLetters = page.map((r): DeadLetterItem => ({
    id: r.id,
    source: r.source,
    reason: r.reason,
    receivedAt: r.receivedAt,
    bodyBytes: r.bodyBytes,
    bodyPreview: r.preview,
    bodyTruncated: Buffer.byteLength(r.preview, 'utf8') < r.bodyBytes,
  }));
  const last = page[page.length - 1];
  const more = rows.length > q.limit && last !== undefined;
  d.logger.child({ component: 'tracking-dead-letters' }).debug({ count: deadLetters.length, source: q.source, more }, 'tracking.dead_letters_listed');
  return more ? { deadLetters, nextCursor: encodeKeysetCursor(last.receivedAt, last.id) } : { deadLetters };
}

export async function inspectDeadLetter(d: { store: Store; logger: Logger }, deadLetterId: string): Promise<DeadLetterDetail> {
  const r = await d.store.tracking.getDeadLetter(deadLetterId);
  if (r === undefined) throw new BackendError('NOT_FOUND', 'dead letter not found', { deadLetterId });
  const bodyBytes = Buffer.byteLength(r.body, 'utf8');
  // Logged: an operator reading a stored payload (it may carry a customer's address) is worth a trace.
  d.logger.child({ component: 'tracking-dead-letters' }).info({ deadLetterId, source: r.source, bodyBytes }, 'tracking.dead_letter_inspected');
  return { id: r.id, source: r.source, reason: r.reason, receivedAt: r.receivedAt, bodyBytes, body: r.body };
}
