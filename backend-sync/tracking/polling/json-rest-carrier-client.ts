import { readBoundedBody } from '../../shared/bounded-body.js';
import type { Clock } from '../../shared/clock.js';
import { CanonicalTrackingEvent } from '../tracking-event.js';
import { CarrierTrackingError, type CarrierFetchResult, type CarrierNumberResult, type CarrierRateLimit, type CarrierTrackingClient } from './carrier-tracking-client.js';
import { JsonRestEnvelope, jsonRestScanCodes, JsonRestTracking } from './json-rest-carrier-format.js';

// A CarrierTrackingClient over HTTP for carriers that speak the JSON REST shape of
// json-rest-carrier-format.ts (our simulated carrier does). Every response is validated
// with zod before a single event leaves here; a request is bounded by a timeout and by the
// caller's AbortSignal, whichever comes first, and by its size: a body beyond
// maxResponseBytes is cancelled, never buffered whole (a carrier, a misconfigured proxy or
// someone in their place answering gigabytes within the timeout would otherwise exhaust the
// heap and take every request in flight down with the process).
//
// The carrier's current promise (estimated_delivery) is put on the newest scan only: it is
// the carrier's word as of that scan, and older scans stay byte-identical from poll to poll
// (which keeps the intake's payload-hash dedupe effective).

export interface JsonRestCarrierOptions {
  carrier: string;
  /** e.g. http://127.0.0.1:4010 (no trailing slash needed). */
  baseUrl: string;
  rateLimit: CarrierRateLimit;
  maxBatch: number;
  timeoutMs: number;
  /**
   * Largest response body read; a longer one fails the request (UNPARSEABLE, backed off like
   * any other bad answer). Default: defaultMaxResponseBytes(maxBatch).
   */
  maxResponseBytes?: number;
  /** Resolves an HTTP-date Retry-After into a delay. */
  clock: Clock;
}

const MIB = 1024 * 1024;

/**
 * 64 KiB per number asked for (a parcel's whole history is a few KiB: ~300 bytes a scan),
 * at least 1 MiB, at most 16 MiB: room for any real answer, a bound on a hostile one.
 */
export function defaultMaxResponseBytes(maxBatch: number): number {
  return Math.min(16 * MIB, Math.max(MIB, maxBatch * 64 * 1024));
}

export class JsonRestCarrierClient implements CarrierTrackingClient {
  readonly carrier: string;
  readonly rateLimit: CarrierRateLimit;
  readonly maxBatch: number;
  readonly maxResponseBytes: number;

  constructor(private readonly o: JsonRestCarrierOptions) {
    this.carrier = o.carrier;
    this.rateLimit = o.rateLimit;
    this.maxBatch = o.maxBatch;
    this.maxResponseBytes = o.maxResponseBytes ?? defaultMaxResponseBytes(o.maxBatch);
  }

  async fetch(trackingNumbers: readonly string[], signal?: AbortSignal): Promise<CarrierFetchResult> {
    if (trackingNumbers.length === 0 || trackingNumbers.length > this.maxBatch) {
      throw new CarrierTrackingError('PERMANENT', `between 1 and ${this.maxBatch} numbers per request, got ${trackingNumbers.length}`);
    }
    const url = new URL('/v1/tracking', this.o.baseUrl);
    url.searchParams.set('numbers', trackingNumbers.join(','));
    const timeout = AbortSignal.timeout(this.o.timeoutMs);
    const failed = (err: unknown): CarrierTrackingError => {
      const why = timeout.aborted ? `timed out after ${this.o.timeoutMs} ms` : signal?.aborted === true ? 'aborted' : err instanceof Error ? err.message : String(err);
      return new CarrierTrackingError('TRANSIENT', `${this.carrier}: request failed: ${why}`);
    };
    let res: Response;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' }, signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) });
    } catch (err) {
      throw failed(err);
    }
    const read = await readBoundedBody(res, this.maxResponseBytes);
    if (read.error !== undefined) throw failed(read.error);
    // A 503 may carry Retry-After too (RFC 9110 §15.6.4: how long the maintenance lasts).
    const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers.get('retry-after'), this.o.clock.now()) : undefined;
    const retry = retryAfterMs === undefined ? {} : { retryAfterMs };
    if (res.status === 429) throw new CarrierTrackingError('RATE_LIMITED', `${this.carrier}: rate limited`, { httpStatus: 429, ...retry });
    if (res.status >= 500 || res.status === 408) throw new CarrierTrackingError('TRANSIENT', `${this.carrier}: HTTP ${res.status}`, { httpStatus: res.status, ...retry });
    if (res.status !== 200) throw new CarrierTrackingError('PERMANENT', `${this.carrier}: HTTP ${res.status}`, { httpStatus: res.status });
    // No answer to maxBatch numbers is this long: not the documented shape. Backed off like
    // one that does not parse; no body for the dead letter, which stores whole answers only.
    if (!read.complete) throw new CarrierTrackingError('UNPARSEABLE', `${this.carrier}: response larger than ${this.maxResponseBytes} bytes`, { httpStatus: 200 });
    // As res.text() decodes: UTF-8, a BOM dropped, a malformed sequence replaced.
    const body = utf8.decode(read.head);
    return { body, results: this.parse(body, trackingNumbers) };
  }

  private parse(body: string, asked: readonly string[]): Map<string, CarrierNumberResult> {
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new CarrierTrackingError('UNPARSEABLE', `${this.carrier}: response is not JSON`, { body, httpStatus: 200 });
    }
    const envelope = JsonRestEnvelope.safeParse(json);
    if (!envelope.success) throw new CarrierTrackingError('UNPARSEABLE', `${this.carrier}: ${envelope.error.issues[0]?.message ?? 'bad envelope'}`, { body, httpStatus: 200 });
    // Matched as every number is stored, in capitals (TrackingNumber): a carrier may echo a
    // number in its own spelling.
    const wanted = new Set(asked.map(spelling));
    const results = new Map<string, CarrierNumberResult>();
    for (const item of envelope.data.results) {
      const parsed = JsonRestTracking.safeParse(item);
      const echoed = parsed.success ? parsed.data.number : numberOf(item);
      if (echoed === undefined) throw new CarrierTrackingError('UNPARSEABLE', `${this.carrier}: a result without a number`, { body, httpStatus: 200 });
      const number = spelling(echoed);
      if (!wanted.has(number)) continue; // not asked for: not ours to ingest
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        results.set(number, { ok: false, code: 'UNPARSEABLE', reason: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` });
        continue;
      }
      results.set(number, this.toCanonical(parsed.data));
    }
    return results;
  }

  private toCanonical(t: JsonRestTracking): CarrierNumberResult {
    if (!t.found) return { ok: false, code: 'NOT_FOUND', reason: 'carrier does not know the number' };
    const newest = t.scans.reduce((n, s, i) => (Date.parse(s.occurred_at) >= Date.parse(t.scans[n]?.occurred_at ?? '') ? i : n), 0);
    const events: CanonicalTrackingEvent[] = [];
    for (const [i, s] of t.scans.entries()) {
      const loc = s.location ?? undefined;
      const ev = CanonicalTrackingEvent.safeParse({
        trackingNumber: t.number,
        carrier: this.carrier,
        carrierEventId: s.id,
        status: jsonRestScanCodes[s.code],
        carrierStatus: s.code,
        ...(s.description === '' ? {} : { carrierReason: s.description }),
        eventTime: Date.parse(s.occurred_at),
        ...(loc === undefined || Object.keys(loc).length === 0 ? {} : { location: loc }),
        ...(i === newest && t.estimated_delivery !== null ? { estimatedDeliveryAt: Date.parse(t.estimated_delivery) } : {}),
      });
      if (!ev.success) return { ok: false, code: 'UNPARSEABLE', reason: `scan ${s.id}: ${ev.error.issues[0]?.message ?? 'invalid'}` };
      events.push(ev.data);
    }
    return { ok: true, events };
  }
}

const spelling = (n: string): string => n.trim().toUpperCase();
const utf8 = new TextDecoder();

function numberOf(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null || !('number' in item)) return undefined;
  return typeof item.number === 'string' ? item.number : undefined;
}

/**
 * Retry-After is delay-seconds or an HTTP-date (RFC 9110 §10.2.3); anything else is
 * ignored (undefined). An HTTP-date starts with a day name: without that check Date.parse
 * reads "-5" or "1.5" as dates in 2001. The carrier's word is returned as is; the policy
 * bounds it (boundedRetryAfterMs), since one bad header must not park a carrier for years.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const ms = Number(v) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  }
  if (!/^[A-Za-z]{3}/.test(v)) return undefined;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
