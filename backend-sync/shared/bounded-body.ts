// Reads an HTTP answer's body (undici's fetch) without trusting its sender for its size.
// res.text() buffers whatever arrives: a peer (or a proxy, or someone impersonating it)
// sending gigabytes fast enough to beat the timeout grows the heap until the process dies
// with every request in flight. Here at most `capBytes` are read; past that the stream is
// cancelled, which closes that one connection (undici cannot reuse a socket whose body
// was not read to its end) instead of reading on.

export interface BoundedBody {
  /** The body's first min(read, keepBytes) bytes. */
  head: Buffer;
  /** Bytes read (the whole body when complete; just past capBytes when not). */
  readBytes: number;
  /** Read to its end within capBytes; false when cut off at the cap or by a read failure (the rest was cancelled). */
  complete: boolean;
  /** Why the read failed (a timeout or abort through the request's signal, a reset); the head is what came before. */
  error?: unknown;
}

/**
 * Reads `res`'s body up to `capBytes` (a body of exactly that size is complete), keeping its
 * first `keepBytes` (default: all of it). Never rejects: a read failure cancels the stream
 * and is returned in `error`, with what was read before it.
 */
export async function readBoundedBody(res: Response, capBytes: number, keepBytes = capBytes): Promise<BoundedBody> {
  const body = res.body;
  if (body === null) return { head: Buffer.alloc(0), readBytes: 0, complete: true };
  // undici yields Uint8Array chunks; its types say any.
  const reader: ReadableStreamDefaultReader<unknown> = body.getReader();
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let readBytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { head: Buffer.concat(chunks, kept), readBytes, complete: true };
      if (!(value instanceof Uint8Array)) continue;
      readBytes += value.byteLength;
      if (kept < keepBytes) {
        const take = Math.min(value.byteLength, keepBytes - kept);
        chunks.push(take === value.byteLength ? value : value.subarray(0, take));
        kept += take;
      }
      if (readBytes > capBytes) {
        await reader.cancel();
        return { head: Buffer.concat(chunks, kept), readBytes, complete: false };
      }
    }
  } catch (error) {
    await reader.cancel().catch(() => undefined);
    return { head: Buffer.concat(chunks, kept), readBytes, complete: false, error };
  }
}
