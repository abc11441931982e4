import { createHash } from 'node:crypto';
import { BackendError } from './errors.js';
import type { Store } from '../store/store.js';

// Idempotent writes: the first request under a key runs and its response is stored in the
// same transaction as its effects; a retry with the same key and the same body gets that
// response again; the same key with a different body is a client bug (422). Keys are
// scoped per operation so one key cannot collide across endpoints.

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

export interface IdempotentResult<T> {
  statusCode: number;
  body: T;
  replayed: boolean;
}

/** Runs `work` once per (scope, key) inside one transaction with its idempotency record. */
export function idempotent<T>(store: Store, scope: string, key: string, body: unknown, now: number, statusCode: number, work: () => T): IdempotentResult<T> {
  return store.transaction(idempotentUnit(store, scope, key, body, now, statusCode, work));
}

/** The same, as a group-committed unit: resolves once the shared commit is durable. */
export function idempotentGrouped<T>(store: Store, scope: string, key: string, body: unknown, now: number, statusCode: number, work: () => T): Promise<IdempotentResult<T>> {
  return store.transactionGrouped(idempotentUnit(store, scope, key, body, now, statusCode, work));
}

function idempotentUnit<T>(store: Store, scope: string, key: string, body: unknown, now: number, statusCode: number, work: () => T): () => IdempotentResult<T> {
  const hash = requestHash(body);
  return () => {
    const existing = store.idempotency.get(scope, key);
    if (existing !== undefined) {
      if (existing.requestHash !== hash) {
        throw new BackendError('IDEMPOTENCY_MISMATCH', 'this Idempotency-Key was used with a different request body', { scope });
      }
      return { statusCode: existing.statusCode, body: JSON.parse(existing.responseJson) as T, replayed: true };
    }
    const result = work();
    store.idempotency.put(scope, key, { requestHash: hash, statusCode, responseJson: JSON.stringify(result) }, now);
    return { statusCode, body: result, replayed: false };
  };
}
