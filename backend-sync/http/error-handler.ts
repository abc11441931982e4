import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { isBackendError } from '../shared/errors.js';
import { isDbUnavailableError } from '../store/db-unavailable.js';
import { isUnstorableTextError } from '../store/unstorable-text.js';
import type { Logger } from '../shared/logger.js';
import type { App } from './app.js';
import type { ErrorBody } from './error-body.js';

// One error body for everything: { error: { code, message, details? } }. Validation
// failures are 400 INVALID_INPUT with the zod issues; BackendErrors carry their own
// status; fastify's own 4xx (bad JSON, wrong content type, body too large) keep their
// status; text PostgreSQL cannot store (a NUL) is the caller's 400; anything else is a 500
// whose details stay in the log.

/** fastify's own 4xx that are not a schema failure keep their status and get a code of their own. */
const fastifyClientErrorCodes: Readonly<Record<number, string>> = { 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE' };

/** What a 503 DB_UNAVAILABLE asks the caller to wait: a restart or failover takes seconds. */
export const DB_RETRY_AFTER_SECONDS = 5;

export function installErrorHandler(app: App, logger: Logger): void {
  const log = logger.child({ component: 'http' });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const body: ErrorBody = {
        error: {
          code: 'INVALID_INPUT',
          message: 'request does not match the schema',
          details: { issues: err.validation.map((v) => ({ path: `${err.validationContext ?? ''}${v.instancePath}`, message: v.message ?? 'invalid' })) },
        },
      };
      return reply.code(400).send(body);
    }
    if (isBackendError(err)) {
      if (err.retryAfterSeconds !== undefined) void reply.header('retry-after', String(err.retryAfterSeconds));
      // RFC 6750: a 401 names the scheme; invalid_token only when a key was presented.
      if (err.code === 'UNAUTHENTICATED') void reply.header('www-authenticate', req.headers.authorization === undefined ? 'Bearer realm="backend-sync"' : 'Bearer realm="backend-sync", error="invalid_token"');
      const body: ErrorBody = { error: { code: err.code, message: err.message } };
      if (err.details !== undefined) body.error.details = { ...err.details };
      if (err.httpStatus >= 500) log.error({ code: err.code, url: req.url }, 'http.error');
      return reply.code(err.httpStatus).send(body);
    }
    if (isResponseSerializationError(err)) {
      log.error({ url: req.url, issues: err.cause.issues.length }, 'http.response_schema_mismatch');
      return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
    }
    if (isDbUnavailableError(err)) {
      log.warn({ url: req.url, err: err.message }, 'http.db_unavailable');
      void reply.header('retry-after', String(DB_RETRY_AFTER_SECONDS));
      return reply.code(503).send({ error: { code: 'DB_UNAVAILABLE', message: 'the database is unavailable; retry later' } });
    }
    if (isUnstorableTextError(err)) {
      log.warn({ url: req.url }, 'http.unstorable_text');
      return reply.code(400).send({ error: { code: 'INVALID_INPUT', message: 'text with a NUL character (U+0000) or one the database cannot store' } });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) {
      log.error({ url: req.url, err: err.message }, 'http.unhandled');
      return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } });
    }
    return reply.code(status).send({ error: { code: fastifyClientErrorCodes[status] ?? 'INVALID_INPUT', message: err.message } });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: { code: 'NOT_FOUND', message: 'route not found', details: { method: req.method, url: req.url } } }));
}
