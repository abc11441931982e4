import type { BackendProcess } from './backend-process.js';

// The fleet test's HTTP client, playing a load balancer and a well-behaved integrator:
// requests go round-robin to the instances that are up; a request whose outcome is
// unknown (connection refused or reset: its instance died) is retried on another
// instance — with the same Idempotency-Key where the endpoint takes one. Steps without a
// key are retried only after checking, with a read, that the first try did not land.

export interface ApiResponse {
  status: number;
  json: unknown;
}

export class FleetApi {
  private next = 0;
  /** Requests whose outcome was unknown (their instance died or refused). */
  unknownOutcomes = 0;

  constructor(
    private readonly backends: readonly BackendProcess[],
    private readonly apiKey: string,
  ) {}

  /** One attempt on the next live instance; undefined when the outcome is unknown. */
  async once(method: 'GET' | 'POST', path: string, body?: unknown, idempotencyKey?: string): Promise<ApiResponse | undefined> {
    const live = this.backends.filter((b) => b.running);
    const target = live[this.next++ % Math.max(1, live.length)];
    if (target === undefined) return undefined;
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    try {
      const res = await fetch(`${target.url}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
      const text = await res.text();
      return { status: res.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
    } catch {
      this.unknownOutcomes++;
      return undefined;
    }
  }

  /** GETs and keyed POSTs: safe to repeat, so retried until an answer comes. */
  async call(method: 'GET' | 'POST', path: string, body?: unknown, idempotencyKey?: string): Promise<ApiResponse> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const res = await this.once(method, path, body, idempotencyKey);
      if (res !== undefined && res.status !== 503) return res;
      await sleep(100);
    }
    throw new Error(`${method} ${path}: no instance answered`);
  }

  /** A POST without a key: retried only while `landed()` (a read) says the first try did not take effect. */
  async step(path: string, body: unknown, landed: () => Promise<boolean>): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const res = await this.once('POST', path, body);
      if (res !== undefined && res.status < 300) return;
      if (res !== undefined && res.status !== 503 && res.status < 500) {
        if (await landed()) return;
        throw new Error(`POST ${path}: ${String(res.status)} ${JSON.stringify(res.json)}`);
      }
      if (await landed()) return;
      await sleep(100);
    }
    throw new Error(`POST ${path}: no instance answered`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
