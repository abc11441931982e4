import type { CanonicalTrackingEvent } from '../tracking-event.js';

// The port every polled carrier API sits behind. An adapter knows its carrier's URL, auth,
// response shape and status words; the poller knows none of that. It asks for a batch of
// tracking numbers and gets back the raw response text (stored by the intake, so every
// polled event can be traced to the bytes it came from) and one outcome per number.
//
// Failures of the whole request are thrown as CarrierTrackingError; failures of one number
// inside an otherwise good response are per-number outcomes. Either way the code says what
// the poller should do: RATE_LIMITED (wait at least retryAfterMs, for the whole carrier),
// TRANSIENT (back off and retry), PERMANENT (this request or number will never succeed as
// is: stop polling it), NOT_FOUND (the carrier does not know the number yet: labels often
// exist days before the first scan, so back off and retry), UNPARSEABLE (the response or
// one number's part of it does not match the documented shape: dead-letter it, back off).

export const carrierErrorCodes = ['RATE_LIMITED', 'TRANSIENT', 'PERMANENT', 'NOT_FOUND', 'UNPARSEABLE'] as const;
export type CarrierErrorCode = (typeof carrierErrorCodes)[number];

export class CarrierTrackingError extends Error {
  override readonly name = 'CarrierTrackingError';
  constructor(
    readonly code: CarrierErrorCode,
    message: string,
    readonly options: {
      /** RATE_LIMITED, or TRANSIENT from a 503: how long the carrier asked us to wait (from Retry-After). */
      retryAfterMs?: number;
      /** UNPARSEABLE: the response text, kept for the dead letter. */
      body?: string;
      /** The HTTP status, when there was a response. */
      httpStatus?: number;
    } = {},
  ) {
    super(message);
  }
}

export function isCarrierTrackingError(err: unknown, code?: CarrierErrorCode): err is CarrierTrackingError {
  return err instanceof CarrierTrackingError && (code === undefined || err.code === code);
}

/** One number's outcome inside a successful response. */
export type CarrierNumberResult =
  | { ok: true; events: readonly CanonicalTrackingEvent[] }
  | { ok: false; code: Exclude<CarrierErrorCode, 'RATE_LIMITED'>; reason: string };

export interface CarrierFetchResult {
  /** The response body exactly as received (the intake stores it as the raw payload). */
  body: string;
  /** An outcome for every number asked for; a number the carrier left out is NOT_FOUND. */
  results: ReadonlyMap<string, CarrierNumberResult>;
}

/** The carrier's own request budget, which the poller's token bucket enforces per carrier. */
export interface CarrierRateLimit {
  /** Sustained requests per second. */
  requestsPerSecond: number;
  /** Requests that may be sent at once after a quiet spell (the bucket's size, ≥ 1). */
  burst: number;
}

export interface CarrierTrackingClient {
  /** Canonical carrier code (lowercase, as CarrierCode normalises it): schedule entries are grouped by it. */
  readonly carrier: string;
  readonly rateLimit: CarrierRateLimit;
  /** Most numbers one request may carry. */
  readonly maxBatch: number;
  /**
   * Fetches the current events of `trackingNumbers` (1..maxBatch). Rejects with
   * CarrierTrackingError for a failure of the whole request (including a timeout or an
   * abort through `signal`, which are TRANSIENT).
   */
  fetch(trackingNumbers: readonly string[], signal?: AbortSignal): Promise<CarrierFetchResult>;
}
