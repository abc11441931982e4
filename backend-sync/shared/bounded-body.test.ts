import { describe, expect, it } from 'vitest';
import { readBoundedBody } from './bounded-body.js';

/** A body that arrives in the given chunks, then fails if `fail` is set. */
function response(chunks: string[], fail?: Error): Response {
  let i = 0;
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(new TextEncoder().encode(chunks[i++]));
      else if (fail !== undefined) controller.error(fail);
      else controller.close();
    },
    cancel() {
      cancelled = true;
    },
  });
  return Object.assign(new Response(body), { cancelled: () => cancelled });
}

describe('readBoundedBody', () => {
  it('reads a body of exactly the cap to its end', async () => {
    expect(await readBoundedBody(response(['abc', 'def']), 6)).toEqual({ head: Buffer.from('abcdef'), readBytes: 6, complete: true });
  });

  it('stops one chunk past the cap, cancels the rest and keeps only the head asked for', async () => {
    const res = response(['abc', 'def', 'ghi', 'never read']);
    expect(await readBoundedBody(res, 7, 4)).toEqual({ head: Buffer.from('abcd'), readBytes: 9, complete: false });
    expect((res as Response & { cancelled: () => boolean }).cancelled()).toBe(true);
  });

  it('returns a read failure with what came before it, instead of rejecting', async () => {
    const boom = new Error('socket hang up');
    expect(await readBoundedBody(response(['abc'], boom), 100)).toEqual({ head: Buffer.from('abc'), readBytes: 3, complete: false, error: boom });
    expect(await readBoundedBody(new Response(null), 100)).toEqual({ head: Buffer.alloc(0), readBytes: 0, complete: true });
  });
});
