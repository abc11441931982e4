import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PanelEvent } from './panel-events.js';
import { LockerView, StreamedLockerView, type PanelPort } from './panel-port.js';
import { startPanelServer, type PanelServer } from './panel-server.js';
import { FakePanelPort } from './testing/fake-panel-port.js';
import { openSse, type SseConnection } from './testing/sse-client.js';

const LOCKER = 'sim-berlin-1';
const silent = pino({ level: 'silent' });

describe('panel server', () => {
  let server: PanelServer;
  let port: FakePanelPort;
  const streams: SseConnection[] = [];

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    port.close();
    await server.close();
  });

  async function start(options: { ringSize?: number; heartbeatMs?: number } = {}): Promise<void> {
    port = new FakePanelPort();
    server = await startPanelServer({ port, logger: silent, ...options });
  }

  /** What the page's requests carry: the cookie it was given and, for writes, the token. */
  async function session(): Promise<{ cookie: string; token: string }> {
    const res = await fetch(server.url);
    const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const token = /<meta name="panel-token" content="([^"]+)">/.exec(await res.text())?.[1] ?? '';
    return { cookie, token };
  }

  async function post(path: string, body: unknown, headers: Record<string, string>): Promise<Response> {
    return fetch(new URL(path, server.url), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  }

  async function writeHeaders(): Promise<Record<string, string>> {
    const { cookie, token } = await session();
    return { cookie, 'x-panel-token': token };
  }

  it('serves the page with its session token and a SameSite=Strict cookie, and its static files, on loopback', async () => {
    await start();
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('set-cookie')).toBe(`locker_panel_${new URL(server.url).port}=${server.token}; HttpOnly; SameSite=Strict; Path=/`);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    // Under no-referrer a same-origin POST may carry `Origin: null` (Fetch spec; Firefox does),
    // which the guard refuses as cross-origin: every action would fail in such a browser.
    expect(page.headers.get('referrer-policy')).toBe('same-origin');
    expect(await page.text()).toContain(`content="${server.token}"`);
    const js = await fetch(new URL('/static/panel.js', server.url));
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    for (const path of ['/static/../panel-server.ts', '/static/%2e%2e%2fpanel-server.ts', '/static/nothing.js']) {
      expect((await fetch(new URL(path, server.url))).status, path).toBe(404);
    }
  });

  it('refuses API calls without the session cookie, from another host name, or writes without the token header', async () => {
    await start();
    const { cookie, token } = await session();
    const noSession = await fetch(new URL('/api/lockers', server.url));
    expect(noSession.status).toBe(403);
    // The page ends its session on this code only, not on any 403.
    expect(await noSession.json()).toMatchObject({ error: { code: 'NO_SESSION' } });
    expect((await fetch(new URL('/api/lockers', server.url), { headers: { cookie } })).status).toBe(200);
    // A DNS-rebinding page reaches the same socket under its own name.
    expect(await rawStatus(new URL('/api/lockers', server.url), { cookie, host: 'evil.example:80' })).toBe(421);
    expect(await rawStatus(new URL('/', server.url), { host: 'evil.example' })).toBe(421);
    expect(await rawStatus(new URL('/api/lockers', server.url), { cookie, host: `localhost:${new URL(server.url).port}` })).toBe(200);
    const crossOrigin = await fetch(new URL('/api/lockers', server.url), { headers: { cookie, origin: 'http://evil.example' } });
    expect(crossOrigin.status).toBe(403);
    expect(await crossOrigin.json()).toMatchObject({ error: { code: 'CROSS_ORIGIN' } });
    const action = { action: 'keys', keys: '1' };
    expect((await post(`/api/lockers/${LOCKER}/actions`, action, { cookie })).status).toBe(403);
    expect((await post(`/api/lockers/${LOCKER}/actions`, action, { cookie, 'x-panel-token': 'guess' })).status).toBe(403);
    const form = await fetch(new URL(`/api/lockers/${LOCKER}/actions`, server.url), {
      method: 'POST', headers: { cookie, 'x-panel-token': token, 'content-type': 'text/plain' }, body: JSON.stringify(action),
    });
    expect(form.status).toBe(415);
    expect((await post(`/api/lockers/${LOCKER}/actions`, action, { cookie, 'x-panel-token': token })).status).toBe(200);
  });

  it('answers 400 with the reason for a body that does not validate, and 404 for an unknown locker', async () => {
    await start();
    const headers = await writeHeaders();
    const cases: Array<[unknown, string]> = [
      [{ action: 'keys', keys: '12a' }, "keys: only digits, '#', '*' and 'C'"],
      [{ action: 'fault', compartmentId: 'A03', fault: 'gremlins' }, 'fault:'],
      [{ action: 'launch' }, 'action:'],
      [{ action: 'clock', mode: 'forward', minutes: -5 }, 'minutes: forward takes a positive number'],
      [{ action: 'clock', mode: 'backwards', minutes: 5 }, 'mode:'],
      [{ action: 'keys', keys: '1', extra: true }, 'extra'],
    ];
    for (const [body, reason] of cases) {
      const res = await post(`/api/lockers/${LOCKER}/actions`, body, headers);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.message).toContain(reason);
    }
    const notJson = await fetch(new URL(`/api/lockers/${LOCKER}/actions`, server.url), { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{"action":' });
    expect(notJson.status).toBe(400);
    expect((await post('/api/orders', { lockerId: LOCKER, size: 'XXL' }, headers)).status).toBe(400);
    expect((await post('/api/lockers/nowhere/actions', { action: 'keys', keys: '1' }, headers)).status).toBe(404);
  });

  it('answers 400, not 500, for a path with a malformed %-escape', async () => {
    await start();
    const headers = await writeHeaders();
    const responses = [
      await fetch(new URL('/api/orders/%E0%A4%A', server.url), { headers: { cookie: headers['cookie'] ?? '' } }),
      await post('/api/lockers/%ZZ/actions', { action: 'keys', keys: '1' }, headers),
      await post('/api/lockers/sim-berlin-%/courier-credential', {}, headers),
    ];
    for (const res of responses) {
      expect(res.status, res.url).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('malformed %-encoding');
    }
  });

  it('runs an action as a console command on the locker and returns what it printed', async () => {
    await start();
    const headers = await writeHeaders();
    const res = await post(`/api/lockers/${LOCKER}/actions`, { action: 'fault', compartmentId: 'a03', fault: 'door-jammed' }, headers);
    expect(await res.json()).toEqual({ lines: ['A03: fault door-jammed injected'] });
    const lockers = LockerView.array().parse(await (await fetch(new URL('/api/lockers', server.url), { headers: { cookie: headers['cookie'] ?? '' } })).json());
    expect(lockers.find((l) => l.id === LOCKER)?.compartments.find((c) => c.id === 'A03')?.faults).toEqual(['door-jammed']);
  });

  it('streams each event with an id and the locker view after it; a reconnect with Last-Event-ID replays only what was missed', async () => {
    await start();
    const headers = await writeHeaders();
    const cookie = headers['cookie'] ?? '';
    const first = await openSse(new URL(`/events?locker=${LOCKER}`, server.url).href, { cookie });
    streams.push(first);
    expect(first.status).toBe(200);
    await first.next((m) => m.event === 'locker', 'the initial locker view');
    await post(`/api/lockers/${LOCKER}/actions`, { action: 'fault', compartmentId: 'A01', fault: 'sensor-dead' }, headers);
    const fault = await first.next((m) => m.event === 'sim' && PanelEvent.parse(JSON.parse(m.data)).type === 'fault', 'the fault event');
    const view = await first.next((m) => m.event === 'locker' && m.data.includes('sensor-dead'), 'the view with the fault');
    expect(LockerView.parse(JSON.parse(view.data)).compartments.find((c) => c.id === 'A01')?.door).toBe('unknown');
    // The view carries the server's alarm count: here, the alarm-level events streamed before it.
    const before = first.messages.slice(0, first.messages.indexOf(view)).filter((m) => m.event === 'sim' && PanelEvent.parse(JSON.parse(m.data)).words?.level === 'alarm');
    expect(before.length).toBeGreaterThan(0);
    expect(StreamedLockerView.parse(JSON.parse(view.data)).alarms).toBe(before.length);
    expect(PanelEvent.parse(JSON.parse(fault.data)).words).toEqual({ tag: 'FAULT', text: 'A01 sensor-dead injected', level: 'alarm' });
    first.close();

    // While away: two more events on this locker, one on another.
    await post(`/api/lockers/${LOCKER}/actions`, { action: 'network', up: false }, headers);
    await post('/api/lockers/sim-hamburg-1/actions', { action: 'network', up: false }, headers);
    const again = await openSse(new URL(`/events?locker=${LOCKER}`, server.url).href, { cookie, 'last-event-id': fault.id ?? '' });
    streams.push(again);
    const replayed = await again.next((m) => m.event === 'sim' && m.data.includes('"online"'), 'the missed online event');
    const ids = again.messages.filter((m) => m.event === 'sim').map((m) => Number(m.id));
    expect(ids.every((id) => id > Number(fault.id))).toBe(true);
    expect(again.messages.filter((m) => m.event === 'sim').map((m) => PanelEvent.parse(JSON.parse(m.data))).every((e) => e.lockerId === LOCKER)).toBe(true);
    expect(Number(replayed.id)).toBeGreaterThan(Number(fault.id));
    expect(again.messages.some((m) => m.event === 'gap')).toBe(false);
  });

  it('tells a page that was away longer than the ring holds that it missed events', async () => {
    await start({ ringSize: 3 });
    const headers = await writeHeaders();
    for (let i = 0; i < 4; i++) await post(`/api/lockers/${LOCKER}/actions`, { action: 'keys', keys: '1' }, headers);
    const late = await openSse(new URL('/events', server.url).href, { cookie: headers['cookie'] ?? '', 'last-event-id': '1' });
    streams.push(late);
    await late.next((m) => m.event === 'gap', 'the gap notice');
    expect(late.messages.filter((m) => m.event === 'sim')).toHaveLength(3);
  });

  it('replays to a page holding an id from before a restart as to a fresh page, and tells it it missed events', async () => {
    // The new run's ids start from 1 again; the page still holds 5000 from the last one.
    // Read as "seen up to 5000" it got nothing of this run, and no notice either.
    port = new FakePanelPort();
    const { port: scripted, inject, logger } = scriptedPort(port);
    server = await startPanelServer({ port: scripted, logger });
    const { cookie } = await session();
    for (let i = 1; i <= 250; i++) inject({ type: 'notice', text: 'this run', lockerId: LOCKER, at: i });
    const back = await openSse(new URL('/events', server.url).href, { cookie, 'last-event-id': '5000' });
    streams.push(back);
    await back.next((m) => m.event === 'sim' && m.id === '250', 'the newest event of this run');
    const gap = back.messages.find((m) => m.event === 'gap');
    expect(JSON.parse(gap?.data ?? '{}')).toEqual({ missedBefore: 51 });
    // A fresh page's replay (the last 200), after the notice.
    expect(back.messages.filter((m) => m.event === 'sim').map((m) => Number(m.id))).toEqual(Array.from({ length: 200 }, (_, i) => 51 + i));
    expect(back.messages.indexOf(gap!)).toBeLessThan(back.messages.findIndex((m) => m.event === 'sim'));
  });

  it('drops and logs an event that does not fit the wire schema instead of streaming it', async () => {
    port = new FakePanelPort();
    const { port: leaky, inject, lines, logger } = scriptedPort(port);
    server = await startPanelServer({ port: leaky, logger });
    const { cookie } = await session();
    const stream = await openSse(new URL('/events', server.url).href, { cookie });
    streams.push(stream);
    await stream.next((m) => m.event === 'locker', 'the initial view');
    inject({ type: 'door', compartmentId: 'A01', state: 'ajar', lockerId: LOCKER, at: 1 } as unknown as PanelEvent);
    inject({ type: 'door', compartmentId: 'A01', state: 'open', lockerId: LOCKER, at: 2 });
    const sent = await stream.next((m) => m.event === 'sim', 'the valid event');
    expect(JSON.parse(sent.data)).toMatchObject({ state: 'open' });
    expect(stream.messages.filter((m) => m.event === 'sim')).toHaveLength(1);
    expect(lines.some((l) => l.includes('panel.event_dropped') && l.includes('"type":"door"'))).toBe(true);
  });

  it('cuts off a page that stops reading its stream instead of buffering for it without bound', async () => {
    port = new FakePanelPort();
    const { port: scripted, inject, lines, logger } = scriptedPort(port);
    server = await startPanelServer({ port: scripted, logger, maxStreamBufferBytes: 1024 * 1024 });
    const { cookie } = await session();
    // A suspended laptop tab: the connection stays open, nothing is read from it.
    const stalled = await openStalled(server, cookie);
    const reader = await openSse(new URL('/events', server.url).href, { cookie });
    streams.push(reader);
    await waitUntil(() => server.connections() === 2, 'both streams attached');
    const text = 'x'.repeat(2_000);
    // 20 MB of events, in bursts a reading page keeps up with: far more than the kernel's
    // socket buffers hold for the stalled page.
    for (let i = 0; i < 10_000; i++) {
      inject({ type: 'notice', text, lockerId: LOCKER, at: i });
      if (i % 100 === 99) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitUntil(() => server.connections() === 1, 'the stalled stream cut off');
    expect(lines.some((l) => l.includes('panel.stream_too_slow'))).toBe(true);
    // The page that reads still gets everything.
    await reader.next((m) => m.event === 'sim' && m.data.includes('"at":9999'), 'the last event', 10_000);
    stalled.destroy();
  });

  it.each([
    { what: 'bytes', ringSize: 10_000, maxStreamBufferBytes: 1024 * 1024, events: 1_000, size: 2_000 },
    { what: 'events', ringSize: 50, maxStreamBufferBytes: 16 * 1024 * 1024, events: 200, size: 10 },
  ])('cuts off a page whose snapshot stalls while live events pile up for it (bound by $what)', async ({ ringSize, maxStreamBufferBytes, events, size }) => {
    port = new FakePanelPort();
    let release = (): void => undefined;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const { port: scripted, inject, lines, logger } = scriptedPort(port, { lockers: () => stalled.then(() => port.lockers()) });
    server = await startPanelServer({ port: scripted, logger, ringSize, maxStreamBufferBytes });
    const { cookie } = await session();
    // The snapshot source does not answer: every live event waits for this page in memory.
    const stuck = await openSse(new URL('/events', server.url).href, { cookie });
    streams.push(stuck);
    await waitUntil(() => server.connections() === 1, 'the stream attached');
    const text = 'x'.repeat(size);
    for (let i = 0; i < events; i++) inject({ type: 'notice', text, lockerId: LOCKER, at: i });
    await waitUntil(() => server.connections() === 0, 'the stalled stream cut off');
    const line = lines.find((l) => l.includes('panel.stream_too_slow'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ stage: 'snapshot' });
    // The snapshot that comes late writes nothing to the page that is gone, and a new page is served as usual.
    release();
    const next = await openSse(new URL('/events', server.url).href, { cookie });
    streams.push(next);
    await next.next((m) => m.event === 'sim' && m.data.includes(`"at":${String(events - 1)}`), 'the newest event in the replay');
    expect(server.connections()).toBe(1);
  });

  it('replays what the ring held when the page connected, even if events held back during its snapshot push it out of the ring', async () => {
    port = new FakePanelPort();
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { port: scripted, inject, logger } = scriptedPort(port, { lockers: () => gate.then(() => port.lockers()) });
    server = await startPanelServer({ port: scripted, logger, ringSize: 50 });
    const { cookie } = await session();
    for (let i = 1; i <= 50; i++) inject({ type: 'notice', text: 'before', lockerId: LOCKER, at: i });
    // The page saw up to id 45: ids 46..50 are in the ring when it comes back.
    const back = await openSse(new URL('/events', server.url).href, { cookie, 'last-event-id': '45' });
    streams.push(back);
    await waitUntil(() => server.connections() === 1, 'the stream attached');
    // While its snapshot is fetched, 49 live events (fewer than the ring holds, so it is not cut off)
    // push ids 46..49 out of the ring.
    for (let i = 51; i <= 99; i++) inject({ type: 'notice', text: 'during', lockerId: LOCKER, at: i });
    release();
    await back.next((m) => m.event === 'sim' && m.id === '99', 'the last held-back event');
    expect(back.messages.filter((m) => m.event === 'sim').map((m) => Number(m.id))).toEqual(Array.from({ length: 54 }, (_, i) => 46 + i));
    expect(back.messages.some((m) => m.event === 'gap')).toBe(false);
  });

  it('never cuts off a page by its own replay, even with a cut-off below what the ring holds', async () => {
    port = new FakePanelPort();
    const { port: scripted, inject, lines, logger } = scriptedPort(port);
    // 500 events of 2 kB in the ring: 1 MB of replay against a 256 kB cut-off.
    server = await startPanelServer({ port: scripted, logger, ringSize: 500, maxStreamBufferBytes: 256 * 1024 });
    const { cookie } = await session();
    const text = 'x'.repeat(2_000);
    for (let i = 0; i < 500; i++) inject({ type: 'notice', text, lockerId: LOCKER, at: i });
    const back = await openSse(new URL('/events', server.url).href, { cookie, 'last-event-id': '0' });
    streams.push(back);
    await back.next((m) => m.event === 'sim' && m.data.includes('"at":499'), 'the end of the replay');
    expect(back.messages.filter((m) => m.event === 'sim')).toHaveLength(500);
    expect(lines.filter((l) => l.includes('panel.stream_too_slow'))).toEqual([]);
    expect(server.connections()).toBe(1);
    // Live events still reach it after the replay.
    inject({ type: 'notice', text, lockerId: LOCKER, at: 500 });
    await back.next((m) => m.event === 'sim' && m.data.includes('"at":500'), 'a live event after the replay');

    // The allowance is the catch-up only: a page that takes its replay and then nothing more is still cut off.
    const stalled = await openStalled(server, cookie, { 'Last-Event-ID': '0' });
    await waitUntil(() => server.connections() === 2, 'the stalled stream attached');
    // 20 MB, far more than the kernel's socket buffers take, in bursts (100 kB) the reading page keeps up with.
    for (let i = 0; i < 10_000; i++) {
      inject({ type: 'notice', text, lockerId: LOCKER, at: 501 + i });
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitUntil(() => server.connections() === 1, 'the stalled stream cut off');
    expect(lines.map((l) => JSON.parse(l) as { msg: string; stage?: string }).filter((l) => l.msg === 'panel.stream_too_slow')).toMatchObject([{ stage: 'live' }]);
    await back.next((m) => m.event === 'sim' && m.data.includes('"at":10500'), 'the last live event', 10_000);
    stalled.destroy();
  });

  it('keeps the stream alive with heartbeats and refuses it without the session cookie', async () => {
    await start({ heartbeatMs: 20 });
    const refused = await openSse(new URL('/events', server.url).href, {});
    expect(refused.status).toBe(403);
    const { cookie } = await session();
    const stream = await openSse(new URL('/events', server.url).href, { cookie });
    streams.push(stream);
    await stream.next((m) => m.comment === 'heartbeat', 'a heartbeat');
    expect(server.connections()).toBe(1);
  });

  it('places an order and shows its shipment, timeline and, after the deposit, the code and the pickup QR code as SVG', async () => {
    await start();
    const headers = await writeHeaders();
    const placed = (await (await post('/api/orders', { lockerId: LOCKER, size: 'M' }, headers)).json()) as { order: { id: string }; shipmentId: string; compartmentId: string };
    const credential = (await (await post(`/api/lockers/${LOCKER}/courier-credential`, {}, headers)).json()) as { token: string };
    for (const action of [{ action: 'scan', text: credential.token }, { action: 'scan', text: placed.shipmentId }, { action: 'door', compartmentId: placed.compartmentId, open: false }]) {
      expect((await post(`/api/lockers/${LOCKER}/actions`, action, headers)).status).toBe(200);
    }
    const cookie = headers['cookie'] ?? '';
    const list = (await (await fetch(new URL('/api/orders', server.url), { headers: { cookie } })).json()) as Array<{ id: string }>;
    expect(list.map((o) => o.id)).toEqual([placed.order.id]);
    const detail = (await (await fetch(new URL(`/api/orders/${placed.order.id}`, server.url), { headers: { cookie } })).json()) as {
      order: { shipments: Array<{ state: string }> };
      timeline: unknown[];
      notifications: Array<{ kind: string; code?: string; qrSvg?: string }>;
    };
    expect(detail.order.shipments[0]?.state).toBe('delivered');
    expect(detail.timeline.length).toBeGreaterThan(0);
    const ready = detail.notifications.find((n) => n.kind === 'parcel.ready_for_pickup');
    expect(ready?.code).toMatch(/^\d{8}$/);
    expect(ready?.qrSvg).toMatch(/^<svg [^>]*viewBox="0 0 \d+ \d+"/);
    expect((await fetch(new URL('/api/orders/no-such-order', server.url), { headers: { cookie } })).status).toBe(404);
  });
});

/**
 * `fake` behind a port whose events the test pushes itself (`inject`), with the panel's
 * warnings captured in `lines`.
 */
function scriptedPort(
  fake: FakePanelPort,
  overrides: Partial<Pick<PanelPort, 'lockers'>> = {},
): { port: PanelPort; inject: (event: PanelEvent) => void; lines: string[]; logger: Logger } {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  let listener: ((event: PanelEvent) => void) | undefined;
  const port: PanelPort = {
    lockers: overrides.lockers ?? (() => fake.lockers()),
    history: () => [],
    run: (id, line) => fake.run(id, line),
    backend: fake.backend,
    subscribe: (l) => {
      listener = l;
      return () => undefined;
    },
  };
  return { port, inject: (event) => listener?.(event), lines, logger };
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An event stream whose reader has stopped reading after the first bytes (a suspended laptop tab). */
async function openStalled(server: PanelServer, cookie: string, headers: Record<string, string> = {}): Promise<Socket> {
  const stalled = connect(Number(new URL(server.url).port), '127.0.0.1');
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  await new Promise<void>((resolve, reject) => {
    stalled.once('error', reject);
    stalled.write(`GET /events HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nCookie: ${cookie}\r\nAccept: text/event-stream\r\n${extra}\r\n`);
    stalled.once('data', () => {
      stalled.pause();
      resolve();
    });
  });
  return stalled;
}

/** fetch() will not send a Host header of our choosing; node:http will. */
function rawStatus(url: URL, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
