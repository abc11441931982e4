import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { callerScopedKey, type CallerKey } from '../../shared/idempotency.js';
import { principalOf } from '../auth-hook.js';

// The Idempotency-Key header (shared/idempotency.ts): required where a client cannot tell a
// lost answer from a refused request (POST /reservations, POST /orders); optional where it
// was added later, so callers that send none keep the old behaviour (each request applies).

const IdempotencyKey = z.string().regex(/^[\x21-\x7e]{8,128}$/, 'Idempotency-Key: 8-128 printable characters');

export const IdempotencyHeaders = z.object({ 'idempotency-key': IdempotencyKey });
export const OptionalIdempotencyHeaders = z.object({ 'idempotency-key': IdempotencyKey.optional() });

/** The request's Idempotency-Key as stored: its caller's, never another API key's (shared/idempotency.ts). */
export function callersKey(req: FastifyRequest, key: string): CallerKey {
  return callerScopedKey(principalOf(req)?.keyId, key);
}
