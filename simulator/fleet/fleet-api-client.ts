import type { z } from 'zod';
import { LatencySamples } from './latency-samples.js';

// The fleet's HTTP client for the backend API, playing the merchant, the carrier and the
// installer: every call timed (the summary's API latencies), every answer the fleet reads
// parsed with zod. A keyed POST is repeated with its Idempotency-Key after a network error.

export class ApiError extends Error {
  constructor(
    readonly code: 'API_STATUS' | 'API_UNREACHABLE' | 'API_BAD_BODY',
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export class FleetApiClient {
  latency = new LatencySamples();
  calls = 0;
  failures = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  /** Starts the latency figures afresh (the load's calls, not the registrations before it). */
  resetLatency(): void {
    this.latency = new LatencySamples();
  }

  async call<T>(method: 'GET' | 'POST', path: string, schema: z.ZodType<T>, o: { body?: unknown; idempotencyKey?: string; expect?: number } = {}): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    if (o.idempotencyKey !== undefined) headers['idempotency-key'] = o.idempotencyKey;
    const attempts = method === 'GET' || o.idempotencyKey !== undefined ? 3 : 1;
    for (let attempt = 1; ; attempt++) {
      this.calls++;
      const t0 = performance.now();
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${this.baseUrl}${path}`, { method, headers, body: o.body === undefined ? null : JSON.stringify(o.body), signal: AbortSignal.timeout(15_000) });
        text = await res.text();
      } catch (err) {
        this.failures++;
        if (attempt < attempts) continue;
        throw new ApiError('API_UNREACHABLE', `${method} ${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.latency.add(performance.now() - t0);
      const ok = o.expect === undefined ? res.status >= 200 && res.status < 300 : res.status === o.expect;
      if (!ok) {
        this.failures++;
        throw new ApiError('API_STATUS', `${method} ${path}: ${String(res.status)} ${text.slice(0, 200)}`);
      }
      const parsed = schema.safeParse(text === '' ? undefined : JSON.parse(text));
      if (!parsed.success) {
        this.failures++;
        throw new ApiError('API_BAD_BODY', `${method} ${path}: unexpected body: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      }
      return parsed.data;
    }
  }
}
