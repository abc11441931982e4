import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NotificationInbox } from './backend-client.js';
import type { PanelServer } from './panel-server.js';
import { startSessionPanel, type SimSessionLike } from './session-panel-port.js';
import { chromiumAvailable, openPanelPage, type BrowserSession } from './testing/chromium.js';
import { jammedDoorJourney, pickupJourney } from './testing/panel-journeys.js';

// The same journeys as panel.browser.test.ts, on a real simulator session: the embedded
// backend and broker, the real device runtime on simulated hardware, the panel wired with
// startSessionPanel as main.ts does. The session (simulator/sim-session.ts) was built on
// another branch at the same time as the panel; it is loaded by path, so this file compiles
// and skips (with the reason) where it is not there yet, and runs wherever it is.

const sessionPath = fileURLToPath(new URL('../sim-session.ts', import.meta.url));
const hasSession = existsSync(sessionPath);
if (!hasSession) console.warn('skipping the panel browser test on a real session: simulator/sim-session.ts is not on this branch');

interface SessionModule {
  SimSession: { start(options: { config: unknown; dataDir: string; logger: pino.Logger; sync: boolean; say: (line: string) => void }): Promise<SimSessionLike & { close(): Promise<void> }> };
}
interface ConfigModule {
  loadSessionConfig(path: undefined): unknown;
}

/** The session's customer inbox: customerInbox() where it has one, else its embedded backend's. */
function inboxOf(session: SimSessionLike): NotificationInbox | undefined {
  if (session.customerInbox !== undefined) return session.customerInbox();
  return (session as unknown as { network?: { backend?: { inbox?: NotificationInbox } } }).network?.backend?.inbox;
}

describe.skipIf(!hasSession || !chromiumAvailable())('technician panel in Chromium (real simulator session)', () => {
  let session: (SimSessionLike & { close(): Promise<void> }) | undefined;
  let server: PanelServer | undefined;
  let browser: BrowserSession | undefined;
  let dataDir: string;
  let lockerId: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'panel-session-'));
    const { SimSession } = (await import(/* @vite-ignore */ sessionPath)) as SessionModule;
    const { loadSessionConfig } = (await import(/* @vite-ignore */ fileURLToPath(new URL('../sim-config.ts', import.meta.url)))) as ConfigModule;
    const logger = pino({ level: 'info' }, pino.destination({ dest: join(dataDir, 'test.log'), sync: true }));
    session = await SimSession.start({ config: loadSessionConfig(undefined), dataDir, logger, sync: true, say: () => undefined });
    lockerId = session.lockerIds()[0] ?? '';
    const inbox = inboxOf(session);
    server = await startSessionPanel(session, logger, inbox === undefined ? {} : { inbox });
    browser = await openPanelPage(server.url);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await session?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('places an order, deposits as the courier, types the received code on the keypad and sees the parcel collected', async () => {
    if (browser === undefined) throw new Error('no browser');
    const result = await pickupJourney(browser.page, { lockerId, stepTimeoutMs: 30_000 });
    expect(result.code).toMatch(/^\d{6,10}$/);
    expect(browser.errors).toEqual([]);
  }, 120_000);

  it('announces a jammed door found by the courier as an alarm, with the compartment out of service', async () => {
    if (browser === undefined) throw new Error('no browser');
    const { alarm, compartmentId } = await jammedDoorJourney(browser.page, { lockerId, stepTimeoutMs: 30_000 });
    expect(alarm).toContain(compartmentId);
    expect(browser.errors).toEqual([]);
  }, 120_000);
});
