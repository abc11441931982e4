import { z } from 'zod';
import { BackendError } from './errors.js';

// Keyset paging for the list endpoints (a customer's orders, tracking dead letters): a
// cursor names the last item of a page as (its time, its id), so a page never repeats or
// skips an item while new ones arrive, and page N costs what page 1 costs.

/** A query value of digits only: an empty field, a space or `0x10` is a 400 with the reason (a coercion read '' as 0). */
export const decimalQuery = (what: string) => z.string().regex(/^\d{1,15}$/, `${what}: digits only`).transform(Number);

/** Opaque to callers; inside, the last item's (time, id). */
export function encodeKeysetCursor(at: number, id: string): string {
  return Buffer.from(JSON.stringify([at, id]), 'utf8').toString('base64url');
}

/** The (time, id) a cursor names; a 400 for anything this API did not hand out. */
export function decodeKeysetCursor(cursor: string, maxIdLength: number): { at: number; id: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const c = z.tuple([z.number().int().nonnegative(), z.string().min(1).max(maxIdLength)]).safeParse(parsed);
  if (!c.success) throw new BackendError('INVALID_INPUT', 'after is not a cursor this API returned', { after: cursor.slice(0, 40) });
  return { at: c.data[0], id: c.data[1] };
}
