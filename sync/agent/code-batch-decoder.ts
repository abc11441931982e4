import { z } from 'zod';
import { MAX_BATCH_ENTRIES, CodeEntry } from '@locker/contract/codes/code-batch.js';
import { CodeBatchMessage } from '@locker/contract/code-messages.js';
import { CodeBatchContentHasher, codeBatchContentHash } from '@locker/contract/content-hash.js';
import { topicCatalog } from '@locker/contract/catalog.js';
import { checkEnvelope, decodeEnvelope, decodeMessage, schemaRejection, type DecodeRejection } from '@locker/contract/decode-message.js';
import type { BatchPayloadParser } from './batch-payload-parser.js';

// Decodes a codes/batch message and computes its content hash without holding the event
// loop for the whole batch (docs/decisions/0025, addendum). The agent shares its process
// with the runtime: a 10k-code message (≈ 5 MB) validated by zod in one go and hashed in
// one go held the loop for ≈ 40–130 ms here, longer than any staging slice, and a key
// press waited for all of it.
//
// Same checks, same order, same outcome as decodeMessage + codeBatchContentHash: size,
// UTF-8, JSON, header, then the schema of everything but the upserts, then the upserts a
// chunk at a time, each chunk hashed as it is validated, yielding to the loop once a slice
// has used its budget. Only the first problem's detail may differ when a message has
// several (the upserts are checked last here, in schema order by zod).
// UTF-8 and JSON.parse of the whole payload (10–25 ms for 5 MB here) run on the payload
// parser's worker when there is one (batch-payload-parser.ts), which hands the upserts back
// as JSON text in chunks; without it, in place, as one step. Small payloads take the plain
// path.

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
  /** Parses large payloads off the event loop; without one (or if it fails) they are parsed here. */
  parser?: BatchPayloadParser;
}

export type DecodedCodeBatch =
  | { ok: true; message: CodeBatchMessage; contentHash: string }
  | { ok: false; reason: DecodeRejection; detail?: string; id?: string };

/** The upserts of a large message, a chunk of at most CHUNK raw entries at a time. */
interface UpsertSource {
  count: number;
  /** Chunk k (entries k*CHUNK onwards), not yet validated. */
  chunk(k: number): unknown;
}

export async function decodeCodeBatch(payload: Uint8Array, options: SlicedDecodeOptions): Promise<DecodedCodeBatch> {
  if (payload.byteLength < SLICED_DECODE_MIN_BYTES) return plain(payload);
  const opened = await openLarge(payload, options);
  if (!opened.ok) return opened;
  const { json, upserts, id } = opened;
  // Not the expected shape: the schema says what is wrong with it, as decodeMessage would.
  if (upserts === undefined) return withHash(CodeBatchMessage.safeParse(json), id);
  if (upserts.count > MAX_BATCH_ENTRIES) {
    return { ok: false, reason: 'schema', detail: `batch.upserts: more than ${String(MAX_BATCH_ENTRIES)} entries`, ...(id === undefined ? {} : { id }) };
  }
  const shell = CodeBatchMessage.safeParse(json);
  if (!shell.success) return schemaRejection(shell.error.issues, id);
  await options.yieldToLoop();

  const hasher = new CodeBatchContentHasher(shell.data.batch, upserts.count);
  const valid: CodeEntry[] = [];
  let k = 0;
  while (k * CHUNK < upserts.count) {
    const started = performance.now();
    do {
      const chunk = UpsertChunk.safeParse(upserts.chunk(k));
      if (!chunk.success) {
        const offset = k * CHUNK;
        const issues = chunk.error.issues.map((issue) => ({ ...issue, path: ['batch', 'upserts', offset + Number(issue.path[0]), ...issue.path.slice(1)] }));
        return schemaRejection(issues, id);
      }
      hasher.addUpserts(chunk.data);
      for (const e of chunk.data) valid.push(e);
      k++;
    } while (k * CHUNK < upserts.count && performance.now() - started < options.sliceBudgetMs);
    if (k * CHUNK < upserts.count) await options.yieldToLoop();
  }
  const message: CodeBatchMessage = { ...shell.data, batch: { ...shell.data.batch, upserts: valid } };
  return { ok: true, message, contentHash: hasher.finish(message.batch) };
}

type Opened = { ok: true; json: unknown; upserts: UpsertSource | undefined; id?: string } | Extract<DecodedCodeBatch, { ok: false }>;

/** Size, UTF-8, JSON and header, as decodeEnvelope checks them; on the worker when there is one. */
async function openLarge(payload: Uint8Array, options: SlicedDecodeOptions): Promise<Opened> {
  const maxBytes = topicCatalog['codes/batch'].maxBytes;
  if (payload.byteLength > maxBytes) return { ok: false, reason: 'oversized', detail: `${String(payload.byteLength)} > ${String(maxBytes)}` };
  const parsed = await options.parser?.parse(payload, CHUNK)?.catch(() => undefined);
  if (parsed === undefined) {
    const envelope = decodeEnvelope('codes/batch', payload);
    if (!envelope.ok) return envelope;
    const upserts = takeUpserts(envelope.json);
    return { ...envelope, upserts: upserts === undefined ? undefined : { count: upserts.length, chunk: (k) => upserts.slice(k * CHUNK, (k + 1) * CHUNK) } };
  }
  if (!parsed.ok) return parsed;
  const envelope = checkEnvelope('codes/batch', JSON.parse(parsed.shell));
  if (!envelope.ok) return envelope;
  const { chunks } = parsed;
  if (chunks === undefined) return { ...envelope, upserts: undefined };
  return { ...envelope, upserts: { count: parsed.count ?? 0, chunk: (k) => JSON.parse(chunks[k] ?? '[]') as unknown } };
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
