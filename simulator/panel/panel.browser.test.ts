import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPanelServer, type PanelServer } from './panel-server.js';
import { FakePanelPort } from './testing/fake-panel-port.js';
import { jammedDoorJourney, pickupJourney } from './testing/panel-journeys.js';

// The panel in a real Chromium (Debian's package; playwright cannot download browsers
// here), driven only through the page as a technician would. Outside CI a machine without
// /usr/bin/chromium skips with the reason; on CI it is a failure (.ci/run installs it).

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env['CI'] !== undefined) throw new Error(`${CHROMIUM} is required on CI for the panel browser test`);
if (!hasChromium) console.warn(`skipping the panel browser test: ${CHROMIUM} is missing (apt-get install -y chromium)`);

const LOCKER = 'sim-berlin-1';

describe.skipIf(!hasChromium)('technician panel in Chromium (fake session)', () => {
  let port: FakePanelPort;
  let server: PanelServer;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    port = new FakePanelPort();
    server = await startPanelServer({ port, logger: pino({ level: 'silent' }) });
    profile = mkdtempSync(join(tmpdir(), 'panel-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(server.url);
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 10_000 });
  });

  afterAll(async () => {
    await context?.close();
    port?.close();
    await server?.close();
    if (profile !== undefined) rmSync(profile, { recursive: true, force: true });
  });

  it('places an order, sees the courier deposit, types the code from the notification on the keypad and sees the parcel collected', async () => {
    const result = await pickupJourney(page, { lockerId: LOCKER });
    expect(result.code).toMatch(/^\d{8}$/);
    // The event stream shows the server's words for the pickup door, verbatim.
    const doorLine = page.locator('#event-log li', { hasText: `${result.compartmentId} is open` });
    expect(await doorLine.count()).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  });

  it('shows a jammed door as an alarm in the stream, a fault badge and an out-of-service compartment', async () => {
    const { alarm, compartmentId } = await jammedDoorJourney(page, { lockerId: LOCKER });
    expect(alarm).toContain(`${compartmentId} door jammed`);
    expect(await page.locator('#event-log li.level-alarm', { hasText: 'RE-SLOT' }).count()).toBe(1);
    expect(pageErrors).toEqual([]);
  });

  it('keeps the drawn locker live after the stream drops: a reconnect replays what the page missed', async () => {
    const before = await page.locator('#event-log li').count();
    server.dropStreams();
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor({ timeout: 10_000 });
    // Happens while the page is disconnected: it can only learn of it from the replay.
    await port.run(LOCKER, 'network off');
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 10_000 });
    await page.locator('#locker-state [data-term="Network"] dd', { hasText: 'DOWN' }).waitFor({ timeout: 10_000 });
    await page.locator('#event-log li', { hasText: 'network cable pulled' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#event-log li').count()).toBeGreaterThan(before);
    expect(pageErrors).toEqual([]);
  });
});
