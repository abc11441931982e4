import { z } from 'zod';
import { MAX_BATCH_ENTRIES, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { CodeBatchMessage } from '@locker/contract/code-messages.js';
import { CodeBatchContentHasher, codeBatchContentHash } from '@locker/contract/content-hash.js';
import { decodeEnvelope, decodeMessage, schemaRejection, type DecodeRejection } from '@locker/contract/decode-message.js';

// Decodes a codes/batch message and computes its content hash without holding the event
// loop for the whole batch (docs/decisions/0025, addendum). The agent shares its process
// with the runtime: a 10k-code message (≈ 5 MB) validated by zod in one go and hashed in
// one go held the loop for ≈ 40–130 ms here, longer than any staging slice, and a key
// press waited for all of it.
//
// Same checks, same order, same outcome as decodeMessage + codeBatchContentHash: size,
// UTF-8, JSON, header (decodeEnvelope), then the schema of everything but the upserts, then
// the upserts a chunk at a time, each chunk hashed as it is validated, yielding to the loop
// once a slice has used its budget. Only the first problem's detail may differ when a
// message has several (the upserts are checked last here, in schema order by zod).
// JSON.parse of the whole payload stays one step: about 10 ms for 5 MB on this machine.
// Small payloads take the plain path.

/** Below this many bytes (≈ 500 codes) the plain decode is shorter than one slice. */
export const SLICED_DECODE_MIN_BYTES = 256 * 1024;
/** Upserts validated and hashed between two clock reads. */
const CHUNK = 200;

const UpsertChunk = z.array(CodeEntry);

export interface SlicedDecodeOptions {
  /** Wall time one slice of validation and hashing may take. */
  sliceBudgetMs: number;
  /** Lets the event loop run between slices (setImmediate in production). */
  yieldToLoop: () => Promise<void>;
}

export type DecodedCodeBatch =
  | { ok: true; message: CodeBatchMessage; contentHash: string }
  | { ok: false; reason: DecodeRejection; detail?: string; id?: string };

export async function decodeCodeBatch(payload: Uint8Array, options: SlicedDecodeOptions): Promise<DecodedCodeBatch> {
  if (payload.byteLength < SLICED_DECODE_MIN_BYTES) return plain(payload);
  const envelope = decodeEnvelope('codes/batch', payload);
  if (!envelope.ok) return envelope;
  const { id } = envelope;
  const upserts = takeUpserts(envelope.json);
  // Not the expected shape: the schema says what is wrong with it, as decodeMessage would.
  if (upserts === undefined) return withHash(CodeBatchMessage.safeParse(envelope.json), id);
  if (upserts.length > MAX_BATCH_ENTRIES) {
    return { ok: false, reason: 'schema', detail: `batch.upserts: more than ${String(MAX_BATCH_ENTRIES)} entries`, ...(id === undefined ? {} : { id }) };
  }
  const shell = CodeBatchMessage.safeParse(envelope.json);
  if (!shell.success) return schemaRejection(shell.error.issues, id);
  await options.yieldToLoop();

  const hasher = new CodeBatchContentHasher(shell.data.batch, upserts.length);
  const valid: CodeEntry[] = [];
  let i = 0;
  while (i < upserts.length) {
    const started = performance.now();
    do {
      const chunk = UpsertChunk.safeParse(upserts.slice(i, i + CHUNK));
      if (!chunk.success) {
        const offset = i;
        const issues = chunk.error.issues.map((issue) => ({ ...issue, path: ['batch', 'upserts', offset + Number(issue.path[0]), ...issue.path.slice(1)] }));
        return schemaRejection(issues, id);
      }
      hasher.addUpserts(chunk.data);
      for (const e of chunk.data) valid.push(e);
      i += chunk.data.length;
    } while (i < upserts.length && performance.now() - started < options.sliceBudgetMs);
    if (i < upserts.length) await options.yieldToLoop();
  }
  const message: CodeBatchMessage = { ...shell.data, batch: { ...shell.data.batch, upserts: valid } };
  return { ok: true, message, contentHash: hasher.finish(message.batch) };
}

function plain(payload: Uint8Array): DecodedCodeBatch {
  const decoded = decodeMessage('codes/batch', payload);
  if (!decoded.ok) return decoded;
  return { ok: true, message: decoded.message, contentHash: codeBatchContentHash(decoded.message.batch) };
}

function withHash(parsed: ReturnType<typeof CodeBatchMessage.safeParse>, id: string | undefined): DecodedCodeBatch {
  if (!parsed.success) return schemaRejection(parsed.error.issues, id);
  return { ok: true, message: parsed.data, contentHash: codeBatchContentHash(parsed.data.batch) };
}

/**
 * Takes `batch.upserts` out of the parsed JSON (leaving an empty array for the schema of
 * the rest) when it is an array; undefined when the message does not have that shape.
 */
function takeUpserts(json: unknown): unknown[] | undefined {
  if (!isRecord(json) || !isRecord(json['batch'])) return undefined;
  const batch = json['batch'];
  const upserts = batch['upserts'];
  if (!Array.isArray(upserts)) return undefined;
  batch['upserts'] = [];
  return upserts as unknown[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
