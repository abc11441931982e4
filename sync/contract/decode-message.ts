import type { z } from 'zod';
import { EnvelopeHeader, SCHEMA_VERSION } from './envelope.js';
import { topicCatalog, type MessageOn } from './catalog.js';
import type { TopicSuffix } from './topics.js';

// The one way to turn received bytes into a message: size first (before any parsing, so a
// hostile payload cannot cost more than maxBytes of work), then JSON, then the version
// header, then the topic's schema. Never throws. Unknown fields of a known version are
// stripped by the schemas; a higher major version is 'unsupported-version'.

export type DecodeRejection = 'oversized' | 'not-utf8' | 'not-json' | 'no-header' | 'unsupported-version' | 'wrong-type' | 'schema';

export type Decoded<S extends TopicSuffix> =
  | { ok: true; message: MessageOn<S> }
  | { ok: false; reason: DecodeRejection; detail?: string; id?: string };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeMessage<S extends TopicSuffix>(suffix: S, payload: Uint8Array): Decoded<S> {
  const envelope = decodeEnvelope(suffix, payload);
  if (!envelope.ok) return envelope;
  const parsed = topicCatalog[suffix].schema.safeParse(envelope.json);
  if (!parsed.success) return schemaRejection(parsed.error.issues, envelope.id);
  return { ok: true, message: parsed.data as MessageOn<S> };
}

/** Every check of decodeMessage but the topic's schema: the JSON of a message that may be one. */
export type DecodedEnvelope =
  | { ok: true; json: unknown; id?: string }
  | { ok: false; reason: DecodeRejection; detail?: string; id?: string };

/**
 * Size, UTF-8, JSON, version header and type, as decodeMessage checks them. For a receiver
 * that validates a large message's schema in parts (sync/agent's sliced code-batch decode);
 * everyone else calls decodeMessage.
 */
export function decodeEnvelope(suffix: TopicSuffix, payload: Uint8Array): DecodedEnvelope {
  const spec = topicCatalog[suffix];
  if (payload.byteLength > spec.maxBytes) return { ok: false, reason: 'oversized', detail: `${String(payload.byteLength)} > ${String(spec.maxBytes)}` };
  let text: string;
  try {
    text = strictUtf8.decode(payload);
  } catch {
    return { ok: false, reason: 'not-utf8' };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  return checkEnvelope(suffix, json);
}

/** The header checks of decodeEnvelope, for JSON parsed elsewhere (a worker thread). */
export function checkEnvelope(suffix: TopicSuffix, json: unknown): DecodedEnvelope {
  const spec = topicCatalog[suffix];
  const header = EnvelopeHeader.safeParse(json);
  if (!header.success) return { ok: false, reason: 'no-header' };
  const id = header.data.id;
  const withId = id === undefined ? {} : { id };
  if (header.data.v !== SCHEMA_VERSION) return { ok: false, reason: 'unsupported-version', detail: `v${String(header.data.v)}`, ...withId };
  if (header.data.type !== spec.type) return { ok: false, reason: 'wrong-type', detail: header.data.type.slice(0, 32), ...withId };
  return { ok: true, json, ...withId };
}

/** The 'schema' rejection for the first of `issues`: its path (at most 4 deep) and message. */
export function schemaRejection(issues: readonly z.core.$ZodIssue[], id: string | undefined): { ok: false; reason: 'schema'; detail: string; id?: string } {
  const first = issues[0];
  const detail = first === undefined ? 'invalid' : `${first.path.slice(0, 4).map(String).join('.')}: ${first.message}`.slice(0, 200);
  return { ok: false, reason: 'schema', detail, ...(id === undefined ? {} : { id }) };
}

/** Serialises a message for publishing (validated against its topic's schema first: a bug here must not reach the wire). */
export function encodeMessage<S extends TopicSuffix>(suffix: S, message: MessageOn<S>): Buffer {
  const spec = topicCatalog[suffix];
  const checked = spec.schema.parse(message);
  const bytes = Buffer.from(JSON.stringify(checked), 'utf8');
  if (bytes.byteLength > spec.maxBytes) throw new RangeError(`message for ${suffix} exceeds ${String(spec.maxBytes)} bytes`);
  return bytes;
}
