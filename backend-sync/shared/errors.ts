// One error type for the backend, with a code a caller can switch on and the HTTP status it
// maps to. Messages are for API clients and operators; they never contain a code or a token.

export const backendErrorStatus = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  NO_CAPACITY: 409,
  IDEMPOTENCY_MISMATCH: 422,
  IDEMPOTENCY_IN_PROGRESS: 409,
  BUSINESS_RULE: 422,
  INVALID_TRANSITION: 422,
  RATE_LIMITED: 429,
  CONFIG_INVALID: 500,
  DB_DURABILITY: 500,
  DB_TOO_NEW: 500,
  /** This instance has no signing key it may use (its key was revoked by another instance). */
  SIGNING_UNAVAILABLE: 503,
  /** The database cannot be reached (down, restarting, failing over): retry after Retry-After (store/db-unavailable.ts). */
  DB_UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;
export type BackendErrorCode = keyof typeof backendErrorStatus;

export class BackendError extends Error {
  override readonly name = 'BackendError';
  constructor(
    readonly code: BackendErrorCode,
    message: string,
    readonly details?: Readonly<Record<string, unknown>>,
    /** Seconds, for RATE_LIMITED (sent as Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  get httpStatus(): number {
    return backendErrorStatus[this.code];
  }
}

export function isBackendError(err: unknown, code?: BackendErrorCode): err is BackendError {
  return err instanceof BackendError && (code === undefined || err.code === code);
}

export const notFound = (what: string, id: string): BackendError => new BackendError('NOT_FOUND', `${what} not found`, { [`${what}Id`]: id });
