import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../../../shared/clock.js';
import type { JsonRestScan, JsonRestTracking } from '../json-rest-carrier-format.js';

// A carrier tracking API on loopback, speaking json-rest-carrier-format.ts, with the faults
// a real one has: a fixed-window rate limit answered with 429 + Retry-After, injected 5xx,
// malformed bodies and slow responses. Its own clock decides rate windows, so a test that
// drives the poller with a ManualClock hands the same clock here and counts requests per
// window on the server side. Every request is logged (time, numbers, status) for asserting.

export interface SimulatedCarrierOptions {
  clock?: Clock;
  /** At most `max` requests per `windowMs` (windows aligned on the clock); absent: unlimited. */
  rateLimit?: { max: number; windowMs: number };
  /** Numbers per request beyond which the request is a 400. */
  maxBatch?: number;
}

export interface CarrierRequestLog {
  at: number;
  numbers: string[];
  status: number;
}

interface Shipment {
  estimatedDelivery: number | null;
  scans: JsonRestScan[];
}

export class SimulatedCarrierApi {
  readonly requests: CarrierRequestLog[] = [];
  private readonly shipments = new Map<string, Shipment>();
  private readonly clock: Clock;
  private server: Server | undefined;
  private window = { index: -1, count: 0 };
  private failures: Array<{ status: number; retryAfter: string | undefined }> = [];
  private malformed: Array<'not_json' | 'bad_envelope' | 'bad_item'> = [];
  private delayMs = 0;
  private readonly pending = new Set<NodeJS.Timeout>();

  constructor(private readonly o: SimulatedCarrierOptions = {}) {
    this.clock = o.clock ?? systemClock;
  }

  async start(): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Replaces a number's scans and promise; a number never set is answered found:false. */
  setShipment(number: string, scans: JsonRestScan[], estimatedDelivery: number | null = null): void {
    this.shipments.set(number, { scans, estimatedDelivery });
  }

  addScan(number: string, scan: JsonRestScan, estimatedDelivery?: number | null): void {
    const s = this.shipments.get(number) ?? { scans: [], estimatedDelivery: null };
    s.scans.push(scan);
    if (estimatedDelivery !== undefined) s.estimatedDelivery = estimatedDelivery;
    this.shipments.set(number, s);
  }

  /** The next `count` requests (that pass the rate limit) get `status`, with `retryAfter` as the Retry-After header when given. */
  failNext(count: number, status = 503, retryAfter?: string): void {
    for (let i = 0; i < count; i++) this.failures.push({ status, retryAfter });
  }

  malformNext(kind: 'not_json' | 'bad_envelope' | 'bad_item'): void {
    this.malformed.push(kind);
  }

  /** Real milliseconds every answer waits (to exercise client timeouts). */
  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Requests answered 200 or 5xx (not 429) per rate window, for asserting the poller's budget. */
  requestsPerWindow(windowMs: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const r of this.requests) if (r.status !== 429) out.set(Math.floor(r.at / windowMs), (out.get(Math.floor(r.at / windowMs)) ?? 0) + 1);
    return out;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://carrier');
    const numbers = (url.searchParams.get('numbers') ?? '').split(',').filter((n) => n !== '');
    const at = this.clock.now();
    const send = (status: number, body: string, headers: Record<string, string> = {}): void => {
      this.requests.push({ at, numbers, status });
      const write = (): void => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body);
      };
      if (this.delayMs === 0) return write();
      const t = setTimeout(() => {
        this.pending.delete(t);
        write();
      }, this.delayMs);
      this.pending.add(t);
    };
    if (req.method !== 'GET' || url.pathname !== '/v1/tracking') return send(404, '{"error":"not_found"}');
    if (numbers.length === 0 || numbers.length > (this.o.maxBatch ?? 50)) return send(400, '{"error":"numbers: 1..maxBatch"}');
    const limit = this.o.rateLimit;
    if (limit !== undefined) {
      const index = Math.floor(at / limit.windowMs);
      if (index !== this.window.index) this.window = { index, count: 0 };
      if (this.window.count >= limit.max) {
        const retryAfterS = Math.max(1, Math.ceil(((index + 1) * limit.windowMs - at) / 1000));
        return send(429, '{"error":"rate_limited"}', { 'retry-after': String(retryAfterS) });
      }
      this.window.count++;
    }
    const failure = this.failures.shift();
    if (failure !== undefined) return send(failure.status, '{"error":"carrier_unavailable"}', failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter });
    const malformed = this.malformed.shift();
    if (malformed === 'not_json') return send(200, '<html>maintenance</html>');
    if (malformed === 'bad_envelope') return send(200, '{"data":[]}');
    const results: unknown[] = numbers.map((n) => this.tracking(n));
    if (malformed === 'bad_item' && results.length > 0) results[0] = { number: numbers[0], found: true, scans: 'garbled' };
    send(200, JSON.stringify({ results }));
  }

  private tracking(number: string): JsonRestTracking {
    const s = this.shipments.get(number);
    if (s === undefined) return { number, found: false };
    return { number, found: true, estimated_delivery: s.estimatedDelivery === null ? null : new Date(s.estimatedDelivery).toISOString(), scans: s.scans };
  }
}

/** A scan in the simulated carrier's shape. */
export function scan(id: string, code: JsonRestScan['code'], at: number, city = 'Lyon'): JsonRestScan {
  return { id, code, description: `${code} ${city}`, occurred_at: new Date(at).toISOString(), location: { facility: `${city.toUpperCase()}-HUB`, city, country: 'FR' } };
}
