import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { CarrierTrackingError } from './carrier-tracking-client.js';
import { defaultMaxResponseBytes, JsonRestCarrierClient, parseRetryAfter } from './json-rest-carrier-client.js';
import { scan, SimulatedCarrierApi } from './testing/simulated-carrier-api.js';

const T0 = Date.UTC(2026, 11, 1, 8);
const servers: SimulatedCarrierApi[] = [];
const raw: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const s of raw.splice(0)) {
    s.closeAllConnections();
    await new Promise((done) => s.close(done));
  }
  vi.unstubAllGlobals();
});

const MIB = 1024 * 1024;

/**
 * A carrier answering `total` bytes of 200 as fast as the socket takes them (64 KiB writes,
 * chunked: no Content-Length to refuse it by), recording how far it got before the client
 * went away.
 */
async function flood(total: number, status = 200) {
  let closed = (): void => undefined;
  const seen = { written: 0, finished: false, closedEarly: new Promise<void>((resolve) => (closed = resolve)) };
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const server = createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.on('close', () => {
      if (!res.writableFinished) closed();
    });
    const pump = (): void => {
      while (seen.written < total && !res.destroyed) {
        seen.written += chunk.byteLength;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end(() => (seen.finished = true));
    };
    pump();
  });
  raw.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const baseUrl = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  return { baseUrl, seen };
}

async function client(opts: { maxBatch?: number; serverMaxBatch?: number; timeoutMs?: number } = {}) {
  const clock = new ManualClock(T0);
  const api = new SimulatedCarrierApi({ clock, maxBatch: opts.serverMaxBatch ?? 50 });
  servers.push(api);
  const baseUrl = await api.start();
  const c = new JsonRestCarrierClient({ carrier: 'simpost', baseUrl, rateLimit: { requestsPerSecond: 5, burst: 5 }, maxBatch: opts.maxBatch ?? 10, timeoutMs: opts.timeoutMs ?? 5_000, clock });
  return { api, c };
}

async function rejection(p: Promise<unknown>): Promise<CarrierTrackingError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CarrierTrackingError);
  return err as CarrierTrackingError;
}

describe('JSON REST carrier client', () => {
  it('maps every scan code to its canonical status and puts the promise on the newest scan only', async () => {
    const { api, c } = await client();
    const codes = ['LC', 'PU', 'DP', 'AR', 'IT', 'OD', 'EX', 'DL', 'RS'] as const;
    api.setShipment(
      'TN1',
      codes.map((code, i) => scan(`s${i}`, code, T0 + i * 1000)),
      T0 + 86_400_000,
    );
    const r = await c.fetch(['TN1', 'NOPE']);
    const tn1 = r.results.get('TN1');
    if (tn1?.ok !== true) throw new Error('expected events');
    expect(tn1.events.map((e) => e.status)).toEqual(['label_created', 'picked_up', 'in_transit', 'in_transit', 'in_transit', 'out_for_delivery', 'exception', 'delivered', 'returned_to_sender']);
    expect(tn1.events.filter((e) => e.estimatedDeliveryAt !== undefined).map((e) => e.carrierEventId)).toEqual(['s8']);
    expect(r.results.get('NOPE')).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it("matches a result the carrier keys by its own spelling of the number (small letters) to the number asked for", async () => {
    // Every number is stored and polled in capitals (TrackingNumber); an API may echo its own form.
    const body = JSON.stringify({ results: [{ number: '1z999aa10123456784', found: true, estimated_delivery: null, scans: [{ id: 's1', code: 'IT', description: 'in transit', occurred_at: new Date(T0).toISOString() }] }] });
    vi.stubGlobal('fetch', vi.fn(() => Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'application/json' } }))));
    const c = new JsonRestCarrierClient({ carrier: 'simpost', baseUrl: 'http://127.0.0.1:9', rateLimit: { requestsPerSecond: 5, burst: 5 }, maxBatch: 10, timeoutMs: 5_000, clock: new ManualClock(T0) });
    const r = await c.fetch(['1Z999AA10123456784']);
    expect(r.results.get('1Z999AA10123456784')).toMatchObject({ ok: true, events: [{ trackingNumber: '1Z999AA10123456784', status: 'in_transit' }] });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120', T0)).toBe(120_000);
    expect(parseRetryAfter(new Date(T0 + 30_000).toUTCString(), T0)).toBe(30_000);
    expect(parseRetryAfter(new Date(T0 - 30_000).toUTCString(), T0)).toBe(0);
    expect(parseRetryAfter('soon', T0)).toBeUndefined();
    expect(parseRetryAfter(null, T0)).toBeUndefined();
  });

  it('ignores a Retry-After that is neither delay-seconds nor an HTTP date', () => {
    // Date.parse alone reads these as dates in 2001.
    expect(parseRetryAfter('-5', T0)).toBeUndefined();
    expect(parseRetryAfter('1.5', T0)).toBeUndefined();
    expect(parseRetryAfter('9'.repeat(400), T0)).toBeUndefined();
  });

  it('treats a 4xx other than 408/429 as permanent and a 5xx as transient', async () => {
    const { api, c } = await client({ maxBatch: 10, serverMaxBatch: 2 });
    expect(await rejection(c.fetch(['A', 'B', 'C']))).toMatchObject({ code: 'PERMANENT', options: { httpStatus: 400 } });
    api.failNext(1, 502);
    expect(await rejection(c.fetch(['A']))).toMatchObject({ code: 'TRANSIENT', options: { httpStatus: 502 } });
    api.failNext(1, 503, '3600');
    expect(await rejection(c.fetch(['A']))).toMatchObject({ code: 'TRANSIENT', options: { httpStatus: 503, retryAfterMs: 3_600_000 } });
  });

  it('refuses more numbers than its batch size without sending anything', async () => {
    const { api, c } = await client({ maxBatch: 2 });
    expect(await rejection(c.fetch(['A', 'B', 'C']))).toMatchObject({ code: 'PERMANENT' });
    expect(api.requests).toEqual([]);
  });

  it('turns an abort by the caller into a transient failure', async () => {
    const { api, c } = await client();
    api.setDelay(1_000);
    const ac = new AbortController();
    const p = c.fetch(['A'], ac.signal);
    setTimeout(() => ac.abort(), 20);
    const err = await rejection(p);
    expect(err).toMatchObject({ code: 'TRANSIENT' });
    expect(err.message).toMatch(/aborted/);
  });

  it('keeps the body of a response whose envelope is wrong, for the dead letter', async () => {
    const { api, c } = await client();
    api.malformNext('bad_envelope');
    expect(await rejection(c.fetch(['A']))).toMatchObject({ code: 'UNPARSEABLE', options: { body: '{"data":[]}' } });
  });

  it('cancels an answer beyond maxResponseBytes instead of buffering it, and fails the request as unparseable', async () => {
    // 256 MiB offered, 1 MiB allowed: the old res.text() read it all (and held it, twice, as a string).
    const { baseUrl, seen } = await flood(256 * MIB);
    const c = new JsonRestCarrierClient({ carrier: 'simpost', baseUrl, rateLimit: { requestsPerSecond: 5, burst: 5 }, maxBatch: 10, timeoutMs: 30_000, maxResponseBytes: MIB, clock: new ManualClock(T0) });
    const err = await rejection(c.fetch(['A']));
    expect(err).toMatchObject({ code: 'UNPARSEABLE', options: { httpStatus: 200 } });
    expect(err.message).toBe(`simpost: response larger than ${String(MIB)} bytes`);
    // Nothing for the dead letter: it keeps whole answers, and this one was never read whole.
    expect(err.options.body).toBeUndefined();
    // The client closed the connection while the carrier was still writing: the rest was never sent.
    await seen.closedEarly;
    expect(seen.finished).toBe(false);
    expect(seen.written).toBeLessThan(64 * MIB);
  });

  it('still names the status of an oversized error answer, and reads an answer of exactly the cap', async () => {
    const big = await flood(8 * MIB, 502);
    const options = { carrier: 'simpost', rateLimit: { requestsPerSecond: 5, burst: 5 }, maxBatch: 10, timeoutMs: 30_000, maxResponseBytes: MIB, clock: new ManualClock(T0) };
    expect(await rejection(new JsonRestCarrierClient({ ...options, baseUrl: big.baseUrl }).fetch(['A']))).toMatchObject({ code: 'TRANSIENT', options: { httpStatus: 502 } });
    await big.seen.closedEarly;

    const body = JSON.stringify({ results: [] });
    const exact = `${body}${' '.repeat(MIB - body.length)}`;
    vi.stubGlobal('fetch', vi.fn(() => Promise.resolve(new Response(exact, { status: 200 }))));
    const r = await new JsonRestCarrierClient({ ...options, baseUrl: 'http://127.0.0.1:9' }).fetch(['A']);
    expect(r.body).toBe(exact);
    expect(r.results.size).toBe(0);
  });

  it('defaults the cap to 64 KiB per number, within 1–16 MiB', () => {
    expect(defaultMaxResponseBytes(1)).toBe(MIB);
    expect(defaultMaxResponseBytes(50)).toBe(50 * 64 * 1024);
    expect(defaultMaxResponseBytes(1000)).toBe(16 * MIB);
    const c = new JsonRestCarrierClient({ carrier: 'simpost', baseUrl: 'http://127.0.0.1:9', rateLimit: { requestsPerSecond: 5, burst: 5 }, maxBatch: 50, timeoutMs: 5_000, clock: new ManualClock(T0) });
    expect(c.maxResponseBytes).toBe(50 * 64 * 1024);
  });
});
