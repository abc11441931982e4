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
  const header = EnvelopeHeader.safeParse(json);
  if (!header.success) return { ok: false, reason: 'no-header' };
  const id = header.data.id;
  const withId = id === undefined ? {} : { id };
  if (header.data.v !== SCHEMA_VERSION) return { ok: false, reason: 'unsupported-version', detail: `v${String(header.data.v)}`, ...withId };
  if (header.data.type !== spec.type) return { ok: false, reason: 'wrong-type', detail: header.data.type.slice(0, 32), ...withId };
  const parsed = spec.schema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const detail = first === undefined ? 'invalid' : `${first.path.slice(0, 4).join('.')}: ${first.message}`.slice(0, 200);
    return { ok: false, reason: 'schema', detail, ...withId };
  }
  return { ok: true, message: parsed.data as MessageOn<S> };
}

/** Serialises a message for publishing (validated against its topic's schema first: a bug here must not reach the wire). */
export function encodeMessage<S extends TopicSuffix>(suffix: S, message: MessageOn<S>): Buffer {
  const spec = topicCatalog[suffix];
  const checked = spec.schema.parse(message);
  const bytes = Buffer.from(JSON.stringify(checked), 'utf8');
  if (bytes.byteLength > spec.maxBytes) throw new RangeError(`message for ${suffix} exceeds ${String(spec.maxBytes)} bytes`);
  return bytes;
}
