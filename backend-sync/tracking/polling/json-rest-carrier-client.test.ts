import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../shared/clock.js';
import { CarrierTrackingError } from './carrier-tracking-client.js';
import { JsonRestCarrierClient, parseRetryAfter } from './json-rest-carrier-client.js';
import { scan, SimulatedCarrierApi } from './testing/simulated-carrier-api.js';

const T0 = Date.UTC(2026, 11, 1, 8);
const servers: SimulatedCarrierApi[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  vi.unstubAllGlobals();
});

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
});
