import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPanelServer, type PanelServer } from './panel-server.js';
import { chromiumAvailable, openPanelPage, type BrowserSession } from './testing/chromium.js';
import { FakePanelPort } from './testing/fake-panel-port.js';
import { jammedDoorJourney, pickupJourney } from './testing/panel-journeys.js';

// The panel in a real Chromium, driven only through the page as a technician would, on the
// in-memory fake session (panel-session.browser.test.ts plays the same journeys on a real
// simulator session).

const LOCKER = 'sim-berlin-1';

describe.skipIf(!chromiumAvailable())('technician panel in Chromium (fake session)', () => {
  let port: FakePanelPort;
  let server: PanelServer;
  let browser: BrowserSession;

  beforeAll(async () => {
    port = new FakePanelPort();
    server = await startPanelServer({ port, logger: pino({ level: 'silent' }) });
    browser = await openPanelPage(server.url);
  });

  afterAll(async () => {
    await browser?.close();
    port?.close();
    await server?.close();
  });

  it('labels every control and lets the keypad be typed on from the keyboard', async () => {
    const { page } = browser;
    for (const control of await page.locator('input, select, textarea').all()) {
      const id = (await control.getAttribute('id')) ?? '';
      expect(await page.locator(`label[for="${id}"], label:has(#${id})`).count(), `a label for #${id}`).toBe(1);
    }
    const keypad = page.getByRole('group', { name: /^Keypad/ });
    await keypad.focus();
    await page.keyboard.type('123');
    await page.locator('#display', { hasText: 'Code: ***' }).waitFor({ timeout: 5_000 });
    await page.keyboard.press('Escape');
    await page.locator('#display', { hasText: 'Welcome' }).waitFor({ timeout: 5_000 });
    expect(browser.errors).toEqual([]);
  });

  it('places an order, sees the courier deposit, types the code from the notification on the keypad and sees the parcel collected', async () => {
    const result = await pickupJourney(browser.page, { lockerId: LOCKER });
    expect(result.code).toMatch(/^\d{8}$/);
    // The event stream shows the server's words for the pickup door, verbatim.
    expect(await browser.page.locator('#event-log li', { hasText: `${result.compartmentId} is open` }).count()).toBeGreaterThan(0);
    expect(browser.errors).toEqual([]);
  });

  it('shows a jammed door as an alarm in the stream, a fault badge and an out-of-service compartment', async () => {
    const { alarm, compartmentId } = await jammedDoorJourney(browser.page, { lockerId: LOCKER });
    expect(alarm).toContain(`${compartmentId} door jammed`);
    expect(await browser.page.locator('#event-log li.level-alarm', { hasText: 'RE-SLOT' }).count()).toBe(1);
    // The overview flags the bank that raised alarms, and only that one.
    const overview = browser.page.getByRole('navigation', { name: 'All locker banks' });
    await overview.locator(`button.attention[data-locker-id="${LOCKER}"]`, { hasText: /alarm\(s\)/ }).waitFor({ timeout: 5_000 });
    expect(await overview.locator('button.attention').count()).toBe(1);
    expect(browser.errors).toEqual([]);
  });

  it('switches the drawn bank from the overview', async () => {
    const { page } = browser;
    await page.getByRole('navigation', { name: 'All locker banks' }).locator('button[data-locker-id="sim-hamburg-1"]').click();
    await page.locator('#locker-title', { hasText: 'sim-hamburg-1' }).waitFor({ timeout: 5_000 });
    expect(await page.getByLabel('Locker bank', { exact: true }).inputValue()).toBe('sim-hamburg-1');
    // Back to the first bank for the next test.
    await page.getByLabel('Locker bank', { exact: true }).selectOption(LOCKER);
    await page.locator('#locker-title', { hasText: LOCKER }).waitFor({ timeout: 5_000 });
  });

  it('keeps the drawn locker live after the stream drops: a reconnect replays what the page missed', async () => {
    const { page } = browser;
    const before = await page.locator('#event-log li').count();
    server.dropStreams();
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor({ timeout: 10_000 });
    // Happens while the page is disconnected: it can only learn of it from the replay.
    await port.run(LOCKER, 'network off');
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 10_000 });
    await page.locator('#locker-state [data-term="Network"] dd', { hasText: 'DOWN' }).waitFor({ timeout: 10_000 });
    await page.locator('#event-log li', { hasText: 'network cable pulled' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#event-log li').count()).toBeGreaterThan(before);
    expect(browser.errors).toEqual([]);
  });
});
