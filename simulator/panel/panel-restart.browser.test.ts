import type { Route } from 'playwright-core';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { PanelBackendError } from './panel-port.js';
import { startPanelServer, type PanelServer } from './panel-server.js';
import { chromiumAvailable, openPanelPage, type BrowserSession } from './testing/chromium.js';
import { FakePanelPort } from './testing/fake-panel-port.js';

// The session token is made at each simulator start, so a tab left open across a restart
// is refused (403) by the new panel on the same port. EventSource does not tell a 403 from
// a server that is gone; before, the page said "reconnecting…" for ever. Now it asks the
// server, says the session ended and offers a reload; an outage still reconnects by itself.

/** Chromium's own lines for refused or failed requests: expected here, not page errors. */
const pageErrors = (b: BrowserSession): string[] => b.errors.filter((e) => !e.startsWith('Failed to load resource: '));

describe.skipIf(!chromiumAvailable())('technician panel across a simulator restart (Chromium)', () => {
  const logger = pino({ level: 'silent' });
  let port: FakePanelPort;
  let servers: PanelServer[] = [];
  let browser: BrowserSession | undefined;

  afterEach(async () => {
    await browser?.close();
    browser = undefined;
    for (const s of servers) await s.close();
    servers = [];
    port.close();
  });

  it('says the session ended, with a reload, when the panel comes back with a new token', async () => {
    port = new FakePanelPort();
    const first = await startPanelServer({ port, logger });
    servers.push(first);
    browser = await openPanelPage(first.url);
    const { page } = browser;
    const listenPort = Number(new URL(first.url).port);

    await first.close();
    const second = await startPanelServer({ port, logger, listenPort });
    servers.push(second);
    expect(second.url).toBe(first.url);
    expect(second.token).not.toBe(first.token);

    await page.getByRole('alert').filter({ hasText: 'session has ended' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#connection').textContent()).toBe('session ended');
    // It stays ended: no reconnect loop behind the message.
    await page.waitForTimeout(2_500);
    expect(await page.locator('#connection').textContent()).toBe('session ended');

    await page.getByRole('button', { name: 'Reload' }).click();
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#session-ended').isHidden()).toBe(true);
    expect(await page.locator('meta[name="panel-token"]').getAttribute('content')).toBe(second.token);
    expect(pageErrors(browser)).toEqual([]);
  }, 60_000);

  it('keeps reconnecting through an outage of the same server and goes live again when it answers', async () => {
    port = new FakePanelPort();
    const server = await startPanelServer({ port, logger });
    servers.push(server);
    browser = await openPanelPage(server.url);
    const { page } = browser;

    // Nothing answers the page (the server unreachable), and its live stream is cut.
    const refused: string[] = [];
    const refuse = (route: Route): Promise<void> => {
      refused.push(new URL(route.request().url()).pathname);
      return route.abort('connectionrefused');
    };
    await page.route('**/events*', refuse);
    await page.route('**/api/**', refuse);
    server.dropStreams();
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor({ timeout: 10_000 });
    // Long enough for the browser's reconnects and the page's probes to fail.
    await page.waitForTimeout(4_500);
    expect(await page.locator('#connection').textContent()).toBe('reconnecting…');
    expect(await page.locator('#session-ended').isHidden()).toBe(true);
    // The browser did try again, and the page did ask the server what the drop meant.
    expect(refused).toContain('/events');
    expect(refused).toContain('/api/session');

    await page.unroute('**/events*');
    await page.unroute('**/api/**');
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 15_000 });
    expect(await page.locator('#session-ended').isHidden()).toBe(true);
    expect(pageErrors(browser)).toEqual([]);
  }, 60_000);
  it('counts a bank\'s alarms from the server\'s state, so a page that missed events (a gap) still shows them all', async () => {
    port = new FakePanelPort();
    const locker = 'sim-berlin-1';
    let alarms = 0;
    port.subscribe((e) => {
      if (e.words?.level === 'alarm') alarms += 1;
    }, locker);
    // A ring of 5: an outage with more events than that ends in a gap, not a replay.
    const server = await startPanelServer({ port, logger, ringSize: 5 });
    servers.push(server);
    browser = await openPanelPage(server.url);
    const { page } = browser;
    const bank = page.getByRole('navigation', { name: 'All locker banks' }).locator(`button[data-locker-id="${locker}"]`);
    await port.run(locker, 'fault A01 sensor-dead');
    await bank.filter({ hasText: `${String(alarms)} alarm(s)` }).waitFor({ timeout: 5_000 });
    const before = alarms;

    await page.route('**/events*', (route) => route.abort('connectionrefused'));
    server.dropStreams();
    await page.locator('#connection', { hasText: 'reconnecting' }).waitFor({ timeout: 10_000 });
    // While the page is away: alarms, then enough quiet events to push them out of the ring.
    for (const line of ['fault A02 relay-dead', 'fault A04 door-jammed', 'keys 1', 'keys 2', 'keys C']) await port.run(locker, line);
    expect(alarms).toBeGreaterThan(before);
    await page.unroute('**/events*');
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 15_000 });
    await page.locator('#event-log li', { hasText: 'events were missed' }).waitFor({ timeout: 10_000 });
    await bank.filter({ hasText: `${String(alarms)} alarm(s)` }).waitFor({ timeout: 5_000 });
    expect(pageErrors(browser)).toEqual([]);
  }, 60_000);

  it('keeps the technician on the locker they were looking at across the reload', async () => {
    port = new FakePanelPort();
    const first = await startPanelServer({ port, logger });
    servers.push(first);
    browser = await openPanelPage(first.url);
    const { page } = browser;
    await page.locator('#locker-select').selectOption('sim-hamburg-1');
    await page.locator('#locker-title', { hasText: 'sim-hamburg-1' }).waitFor({ timeout: 5_000 });

    await first.close();
    servers.push(await startPanelServer({ port, logger, listenPort: Number(new URL(first.url).port) }));
    await page.getByRole('alert').filter({ hasText: 'session has ended' }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Reload' }).click();
    await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 15_000 });
    await page.locator('#locker-title', { hasText: 'sim-hamburg-1' }).waitFor({ timeout: 5_000 });
    expect(await page.locator('#locker-select').inputValue()).toBe('sim-hamburg-1');
    expect(pageErrors(browser)).toEqual([]);
  }, 60_000);

  it('does not end the session when the backend (not the panel) answers 403', async () => {
    port = new FakePanelPort();
    // The simulator's API key lacking a role: the backend's FORBIDDEN, passed on to the page as 403.
    port.backend.courierCredential = () => Promise.reject(new PanelBackendError('backend POST /lockers/sim-berlin-1/courier-credentials: FORBIDDEN: this API key may not call this route', 403));
    const server = await startPanelServer({ port, logger });
    servers.push(server);
    browser = await openPanelPage(server.url);
    const { page } = browser;
    await page.locator('#courier-credential').click();
    await page.locator('#backend-message', { hasText: 'FORBIDDEN' }).waitFor({ timeout: 5_000 });
    await page.waitForTimeout(500);
    expect(await page.locator('#session-ended').isHidden()).toBe(true);
    expect(await page.locator('#connection').textContent()).toBe('live');
    // The page still acts on the locker.
    await page.locator('#keypad button[data-key="1"]').click();
    await page.locator('#console-output').filter({ hasText: /\S/ }).waitFor({ timeout: 5_000 });
    expect(await page.locator('#console-output').textContent()).not.toContain('error');
  }, 60_000);
});
