import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@locker/device/logger.js';
import { DEFAULT_LOCKERS, parseSessionConfig } from '../sim-config.js';
import { SimSession } from '../sim-session.js';
import type { PanelServer } from './panel-server.js';
import { startSessionPanel } from './session-panel-port.js';

// The panel's HTTP answers on a real session (no browser): what the fake port's tests show
// must hold for the port main.ts wires.

describe('panel on a real simulator session', { timeout: 60_000 }, () => {
  let dir: string;
  let session: SimSession;
  let server: PanelServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'session-panel-'));
    const lockers = DEFAULT_LOCKERS.slice(0, 1).map((l) => ({ lockerId: l.lockerId, site: { ...l.site } }));
    session = await SimSession.start({ config: parseSessionConfig({ lockers }), dataDir: dir, logger: silentLogger(), sync: false, say: () => undefined });
    server = await startSessionPanel(session, silentLogger());
  });

  afterAll(async () => {
    await server.close();
    await session.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function act(lockerId: string, body: unknown): Promise<Response> {
    const page = await fetch(server.url);
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    return fetch(new URL(`/api/lockers/${lockerId}/actions`, server.url), {
      method: 'POST',
      headers: { cookie, 'x-panel-token': server.token, 'content-type': 'application/json', origin: new URL(server.url).origin },
      body: JSON.stringify(body),
    });
  }

  it('answers 404 UNKNOWN_LOCKER for an action on a locker the session does not have', async () => {
    const res = await act('nowhere', { action: 'keys', keys: '1' });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNKNOWN_LOCKER');
  });

  it('runs an action on a locker it has', async () => {
    const res = await act('sim-locker-1', { action: 'keys', keys: '1' });
    expect(res.status).toBe(200);
  });
});

describe('panel on a real simulator session with its backend', { timeout: 90_000 }, () => {
  let dir: string;
  let session: SimSession;
  let server: PanelServer;
  let headers: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'session-panel-backend-'));
    const lockers = DEFAULT_LOCKERS.slice(0, 1).map((l) => ({ lockerId: l.lockerId, site: { ...l.site } }));
    session = await SimSession.start({ config: parseSessionConfig({ lockers }), dataDir: dir, logger: silentLogger(), sync: true, say: () => undefined });
    server = await startSessionPanel(session, silentLogger());
    const page = await fetch(server.url);
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    headers = { cookie, 'x-panel-token': server.token, 'content-type': 'application/json', origin: new URL(server.url).origin };
  });

  afterAll(async () => {
    await server.close();
    await session.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (path: string, body: unknown): Promise<Response> => fetch(new URL(path, server.url), { method: 'POST', headers, body: JSON.stringify(body) });
  const get = (path: string): Promise<Response> => fetch(new URL(path, server.url), { headers });
  const codeOf = async (res: Response): Promise<string> => ((await res.json()) as { error: { code: string } }).error.code;

  it('answers what the technician did wrong with a 4xx, never a 500', async () => {
    const noLocker = await post('/api/orders', { lockerId: 'nowhere', size: 'S' });
    expect([noLocker.status, await codeOf(noLocker)]).toEqual([404, expect.any(String)]);
    const noOrder = await get('/api/orders/ord_nowhere');
    expect(noOrder.status).toBe(404);
    const noCredential = await post('/api/lockers/nowhere/courier-credential', {});
    expect(noCredential.status).toBe(404);
  });
});
