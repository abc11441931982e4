// Errors that say the database could not be reached, not that a statement was wrong: the
// server is down, restarting or failing over, the network to it broke, or a statement went
// unanswered for db.queryTimeoutMs (a frozen server or network). The API answers 503
// DB_UNAVAILABLE with Retry-After instead of a 500, and the sweepers simply try again on
// their next pass. The pool drops the broken connections and opens new ones once the server
// answers: no restart is needed. Almost always nothing was committed; a connection lost
// while COMMIT was on its way may have committed, which a retry under the same
// Idempotency-Key replays, but endpoints without one can repeat their effect
// (docs/operations.md, "PostgreSQL goes away", lists them).

/** Node socket errors met while connecting to, or talking with, the server. */
const SOCKET_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * SQLSTATEs of an unreachable server: class 08 (connection exception), 57P01 admin
 * shutdown (a fast or immediate stop), 57P02 crash shutdown (another backend crashed),
 * 57P03 cannot connect now (starting up, shutting down, in recovery), 53300 too many
 * connections (the server refuses new sessions: a reconnect storm after a failover, or
 * more instances than max_connections; a later attempt gets in), 25P03 and 57P05: the
 * server ended an idle session (idle_in_transaction_session_timeout, which every backend
 * session runs with, or an operator's idle_session_timeout). With the event loop held past
 * that bound the FATAL is still unread when the next statement goes out, and node-postgres
 * fails that statement with it rather than emitting 'error' on the client; a new session
 * serves the retry.
 * Not 08P01 protocol violation, although class 08: the server answered, and it is what a
 * statement bound with the wrong number of parameters gets, a bug that must stay a 500,
 * not be retried for ever behind a 503. Not 57014 either (statement timeout, cancel).
 */
function isUnavailableSqlState(code: string): boolean {
  if (code === '08P01') return false;
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '57P05' || code === '25P03' || code === '53300';
}

// node-postgres and pg-pool raise these without a code.
const DRIVER_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  // A statement unanswered for db.queryTimeoutMs: the server or the network froze mid-statement.
  'Query read timeout',
];

export function isDbUnavailableError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (SOCKET_CODES.has(e.code) || isUnavailableSqlState(e.code))) return true;
  // A host name resolving to several addresses fails with one AggregateError of them all.
  if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every(isDbUnavailableError)) return true;
  return typeof e.message === 'string' && e.code === undefined && DRIVER_MESSAGES.some((m) => (e.message as string).startsWith(m));
}
