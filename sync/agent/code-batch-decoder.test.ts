import { afterAll, describe, expect, it } from 'vitest';
import type { CodeBatch } from '@locker/contract/codes/code-batch.js';
import { codeBatchContentHash } from '@locker/contract/content-hash.js';
import { decodeMessage } from '@locker/contract/decode-message.js';
import { newEnvelope } from '@locker/contract/envelope.js';
import { makeBatch, makeEntries } from '@locker/device/store/store-test-fixtures.js';
import { silentLogger } from '@locker/device/logger.js';
import { BatchPayloadParser } from './batch-payload-parser.js';
import { decodeCodeBatch, SLICED_DECODE_MIN_BYTES, type SlicedDecodeOptions } from './code-batch-decoder.js';

// The sliced decode of a codes/batch message must accept and refuse exactly what
// decodeMessage does, and give the content hash codeBatchContentHash gives, while letting
// the event loop run between parts of a large message.

const T = Date.UTC(2026, 0, 1);

function payloadOf(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

function messageOf(batch: CodeBatch): { v: 1; type: 'code-batch'; id: string; sentAt: number; manifest: string; batch: CodeBatch } {
  return { ...newEnvelope('code-batch', T, '0b9c7a1e-6f5d-4c3b-9a2e-1d0f8e7c6b5a'), manifest: 'v4.public.manifest', batch };
}

const parser = new BatchPayloadParser(silentLogger());
parser.start();
afterAll(() => parser.stop());

const large = makeBatch({ upserts: makeEntries(0, 2_000), revocations: [{ tokenId: 'tok_revoked_000000000001', reason: 'cancelled' }] });

describe.each([
  ['parsed in place', undefined],
  ['parsed on the worker', parser],
])('decodeCodeBatch, %s', (_how, withParser) => {
  /** Yields on every call and counts them: a 0 ms budget makes every chunk its own slice. */
  function counting(): SlicedDecodeOptions & { yields: () => number } {
    let n = 0;
    return {
      sliceBudgetMs: 0,
      yieldToLoop: () => {
        n++;
        return new Promise((resolve) => setImmediate(resolve));
      },
      yields: () => n,
      ...(withParser === undefined ? {} : { parser: withParser }),
    };
  }

  it('decodes a large message in slices to what decodeMessage gives, with the same content hash', async () => {
    const payload = payloadOf(messageOf(large));
    expect(payload.byteLength).toBeGreaterThan(SLICED_DECODE_MIN_BYTES);
    const options = counting();
    const decoded = await decodeCodeBatch(payload, options);
    const reference = decodeMessage('codes/batch', payload);
    expect(decoded.ok && reference.ok).toBe(true);
    if (!decoded.ok || !reference.ok) return;
    expect(decoded.message).toEqual(reference.message);
    expect(decoded.contentHash).toBe(codeBatchContentHash(reference.message.batch));
    // 2,000 upserts in chunks of 200, each its own slice with a 0 ms budget.
    expect(options.yields()).toBeGreaterThanOrEqual(10);
    if (withParser !== undefined) expect(withParser.workerRunning).toBe(true);
  });

  it('refuses an invalid upsert deep in a large message with the detail decodeMessage gives', async () => {
    const upserts = makeEntries(0, 2_000);
    upserts[1_234] = { ...upserts[1_234]!, token: 'not-a-paseto-token' };
    const payload = payloadOf(messageOf(makeBatch({ upserts })));
    const decoded = await decodeCodeBatch(payload, counting());
    expect(decoded).toEqual(decodeMessage('codes/batch', payload));
    expect(decoded).toMatchObject({ ok: false, reason: 'schema', detail: expect.stringMatching(/^batch\.upserts\.1234\.token: /) as unknown });
  });

  it('refuses an unknown field in an upsert, as the strict schema does', async () => {
    const upserts: unknown[] = makeEntries(0, 2_000);
    upserts[1_999] = { ...makeEntries(1_999, 1)[0]!, extra: 1 };
    const payload = payloadOf({ ...messageOf(large), batch: { ...large, upserts } });
    const decoded = await decodeCodeBatch(payload, counting());
    expect(decoded).toEqual(decodeMessage('codes/batch', payload));
    expect(decoded.ok).toBe(false);
  });

  it('refuses a large message whose other fields are wrong with the detail decodeMessage gives', async () => {
    const payload = payloadOf({ ...messageOf(large), batch: { ...large, toVersion: 'two' } });
    const decoded = await decodeCodeBatch(payload, counting());
    expect(decoded).toEqual(decodeMessage('codes/batch', payload));
    expect(decoded).toMatchObject({ ok: false, reason: 'schema' });
  });

  it('refuses a large message whose upserts are not an array, or that is not JSON, as decodeMessage does', async () => {
    const notArray = payloadOf({ ...messageOf(large), batch: { ...large, upserts: { 0: large.upserts[0] } }, padding: 'x'.repeat(SLICED_DECODE_MIN_BYTES) });
    expect(await decodeCodeBatch(notArray, counting())).toEqual(decodeMessage('codes/batch', notArray));
    const broken = Buffer.concat([payloadOf(messageOf(large)), Buffer.from('}')]);
    expect(await decodeCodeBatch(broken, counting())).toEqual({ ok: false, reason: 'not-json' });
    const notUtf8 = Buffer.concat([payloadOf(messageOf(large)).subarray(0, -2), Buffer.from([0xff, 0x7d, 0x7d])]);
    expect(await decodeCodeBatch(notUtf8, counting())).toEqual({ ok: false, reason: 'not-utf8' });
  });

  it('refuses a large message of another type or version with its id, as decodeMessage does', async () => {
    for (const wrong of [{ type: 'command' }, { v: 2 }]) {
      const payload = payloadOf({ ...messageOf(large), ...wrong });
      const decoded = await decodeCodeBatch(payload, counting());
      expect(decoded).toEqual(decodeMessage('codes/batch', payload));
      expect(decoded).toMatchObject({ ok: false, id: messageOf(large).id });
    }
  });

  it('decodes a small message in one go, without yielding', async () => {
    const small = makeBatch({ upserts: makeEntries(0, 3) });
    const options = counting();
    const decoded = await decodeCodeBatch(payloadOf(messageOf(small)), options);
    expect(decoded).toMatchObject({ ok: true, contentHash: codeBatchContentHash(small) });
    expect(options.yields()).toBe(0);
  });
});
