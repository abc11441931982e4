import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { BackendError, isBackendError } from './errors.js';
import type { IdempotencyRecord, IdempotencyRepository, Store } from '../store/store.js';

// Idempotent writes: the first request under a key runs and its response is stored in the
// same transaction as its effects; a retry with the same key and the same body gets that
// response again; the same key with a different body is a client bug (422). Keys are
// scoped per operation so one key cannot collide across endpoints, and per caller (the
// API key's id) so two clients that happen to pick the same key never see each other's
// responses (callerScopedKey).

/** JSON with object keys sorted, so {a,b} and {b,a} hash the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestHash(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/** An Idempotency-Key as its caller sent it (what errors name) and as it is stored. */
export interface CallerKey {
  readonly sent: string;
  readonly stored: string;
}

/** A service's key: a route's CallerKey, or a key stored exactly as given (internal callers, tests). */
export type IdempotencyKeyArg = string | CallerKey;

export function keyOf(k: IdempotencyKeyArg): CallerKey {
  return typeof k === 'string' ? { sent: k, stored: k } : k;
}

/**
 * The key an Idempotency-Key is stored under: `<api key id>:<key>`. API key ids have no ':'
 * (auth/api-key-auth.ts), so no two callers' keys can meet. Without a caller (an app run
 * without API keys: tests, the simulator) every request is the one client's and the key is
 * stored as sent.
 */
export function callerScopedKey(callerId: string | undefined, key: string): CallerKey {
  return { sent: key, stored: callerId === undefined ? key : `${callerId}:${key}` };
}

/**
 * The bare key a record stored before keys were scoped by caller carries, when `k` is
 * scoped; undefined when it is stored as sent (no API keys: nothing changed for it).
 */
export function legacyKeyOf(k: CallerKey): string | undefined {
  return k.stored === k.sent ? undefined : k.sent;
}

/**
 * The record a request under `key` (as stored) replays. Its own (caller-scoped) record first; failing
 * that, for the transition from bare keys, a record stored under the bare key before the
 * upgrade, but only for exactly the same request (same hash): a client retrying across the
 * deploy (deploys are when clients retry) gets its first answer instead of a second hold or
 * order. Its owner was never recorded, so another body under that bare key is taken for
 * another client's and runs as a new request, never a 422 and never that client's answer.
 * Bare records age out with idempotency.retentionMs, and the fallback with them.
 */
export async function priorRecord(repo: IdempotencyRepository, scope: string, key: string, legacy: string | undefined, hash: string): Promise<IdempotencyRecord | undefined> {
  const own = await repo.get(scope, key);
  if (own !== undefined || legacy === undefined) return own;
  const bare = await repo.get(scope, legacy);
  return bare?.requestHash === hash ? bare : undefined;
}

export interface IdempotentResult<T> {
  statusCode: number;
  body: T;
  replayed: boolean;
}

type Run = <R>(work: () => Promise<R>) => Promise<R>;

/**
 * Runs `work` once per (scope, key) inside one transaction with its idempotency record;
 * a replay answers the stored response, read back through `response`.
 */
export function idempotent<T>(store: Store, scope: string, key: IdempotencyKeyArg, body: unknown, now: number, statusCode: number, response: z.ZodType<T>, work: () => Promise<T>): Promise<IdempotentResult<T>> {
  return once((w) => store.transaction(w), idempotentUnit(store, scope, key, body, now, statusCode, response, work));
}

/** The same, as a group-committed unit: resolves once the shared commit is durable. */
export function idempotentGrouped<T>(store: Store, scope: string, key: IdempotencyKeyArg, body: unknown, now: number, statusCode: number, response: z.ZodType<T>, work: () => Promise<T>): Promise<IdempotentResult<T>> {
  return once((w) => store.transactionGrouped(w), idempotentUnit(store, scope, key, body, now, statusCode, response, work));
}

// Two instances can take the same key at once (a client retrying against another
// instance): both miss the lookup, both do the work, and the second record insert finds
// the first one's row (PostgreSQL makes it wait for that commit). The loser's unit is
// rolled back whole and run once more, and then finds the winner's record: the client gets
// the same answer, and the work happened once. A unit that loses twice answers 409.
function once<T>(run: Run, unit: () => Promise<IdempotentResult<T>>): Promise<IdempotentResult<T>> {
  return retryOnceIfKeyTaken(() => run(unit));
}

function idempotentUnit<T>(store: Store, scope: string, key: IdempotencyKeyArg, body: unknown, now: number, statusCode: number, response: z.ZodType<T>, work: () => Promise<T>): () => Promise<IdempotentResult<T>> {
  const hash = requestHash(body);
  const k = keyOf(key);
  return async () => {
    const existing = await priorRecord(store.idempotency, scope, k.stored, legacyKeyOf(k), hash);
    if (existing !== undefined) return replayOf(existing, hash, scope, k.sent, response);
    const result = await work();
    if (!(await store.idempotency.put(scope, k.stored, { requestHash: hash, statusCode, responseJson: JSON.stringify(result) }, now))) {
      throw new BackendError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is being processed; retry', { scope });
    }
    return { statusCode, body: result, replayed: false };
  };
}

/** The answer to a request whose key has a record: the stored response, or 422 for another body under the same key. `key`: as the client sent it. */
export function replayOf<T>(existing: IdempotencyRecord, hash: string, scope: string, key: string, response: z.ZodType<T>): IdempotentResult<T> {
  if (existing.requestHash !== hash) {
    throw new BackendError('IDEMPOTENCY_MISMATCH', 'this Idempotency-Key was used with a different request body', { scope });
  }
  // The stored answer is read back through the response's schema: a corrupt row is an
  // error naming it, never a half-shaped body sent to a client.
  const stored = response.safeParse(parseJson(existing.responseJson));
  if (!stored.success) throw new BackendError('INTERNAL', 'stored idempotent response does not match its schema', { table: 'idempotency', scope, key });
  return { statusCode: existing.statusCode, body: stored.data, replayed: true };
}

/** Runs `work` again, once, when it lost its Idempotency-Key to a concurrent request: the rerun finds that request's record. */
export async function retryOnceIfKeyTaken<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!isBackendError(err, 'IDEMPOTENCY_IN_PROGRESS')) throw err;
    return work();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
