import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PanelEvent } from './panel-events.js';
import type { PanelPort } from './panel-port.js';
import { startPanelServer, type PanelServer } from './panel-server.js';
import { chromiumAvailable, openPanelPage, type BrowserSession } from './testing/chromium.js';
import { FakePanelPort } from './testing/fake-panel-port.js';

// Markup where the panel shows text: from the technician's own input (customer name,
// scanner box, console box) and from a locker that sends it (names, display text, parcel
// ids, audit data, event words). Every one must arrive on the page as text, never as an
// element. The page's CSP would stop an inline handler from running anyway, so the check is
// the stronger one: no element was made of the data at all.

const LOCKER = 'sim-berlin-1';
const PAYLOAD = '<img src=x onerror="document.title=1">';

describe.skipIf(!chromiumAvailable())('technician panel in Chromium: data shown as text, never as markup', () => {
  let port: FakePanelPort;
  let server: PanelServer;
  let browser: BrowserSession;
  const listeners = new Set<(event: PanelEvent) => void>();

  beforeAll(async () => {
    port = new FakePanelPort();
    // A locker whose every free-text field carries markup.
    const hostile: PanelPort = {
      lockers: async () => (await port.lockers()).map((l) => ({
        ...l, name: `${l.name} ${PAYLOAD}`, location: `${l.location} ${PAYLOAD}`,
        compartments: l.compartments.map((c, i) => (i === 0 ? { ...c, status: 'out-of-service' as const, outOfServiceReason: PAYLOAD } : c)),
      })),
      history: (id) => port.history(id),
      run: (id, line) => port.run(id, line),
      backend: port.backend,
      subscribe: (listener, id) => {
        const unsubscribe = port.subscribe(listener, id);
        listeners.add(listener);
        return () => {
          unsubscribe();
          listeners.delete(listener);
        };
      },
    };
    server = await startPanelServer({ port: hostile, logger: pino({ level: 'silent' }) });
    browser = await openPanelPage(server.url);
  });

  afterAll(async () => {
    await browser?.close();
    port?.close();
    await server?.close();
  });

  it('shows markup from the technician and from the locker as literal text', async () => {
    const { page } = browser;
    const at = Date.now();
    const events: PanelEvent[] = [
      { type: 'display', message: { tone: 'error', text: PAYLOAD }, lockerId: LOCKER, at, words: { tag: 'display', text: `[error] ${PAYLOAD}`, level: 'info' } },
      { type: 'reslot', parcelId: PAYLOAD, from: 'A01', to: 'A02', reason: PAYLOAD, lockerId: LOCKER, at, words: { tag: '<b>RE</b>', text: `parcel ${PAYLOAD} moves`, level: 'alarm' } },
      { type: 'audit', seq: 1, auditType: 'parcel.scanned', lane: 'normal', data: { barcode: PAYLOAD }, lockerId: LOCKER, at, words: { tag: 'audit', text: `#1 ${JSON.stringify({ barcode: PAYLOAD })}`, level: 'info' } },
    ];
    for (const event of events) for (const listener of listeners) listener(event);
    await page.locator('#event-log li', { hasText: `parcel ${PAYLOAD} moves` }).waitFor({ timeout: 5_000 });
    await page.locator('#locker-title', { hasText: PAYLOAD }).waitFor({ timeout: 5_000 });

    // The technician's own input: a scanned barcode, a console line, a customer's name.
    await page.getByLabel('Scanner: a barcode, a courier credential or a QR token').fill(PAYLOAD);
    await page.getByRole('button', { name: 'Scan', exact: true }).click();
    await page.locator('#console-input').fill(PAYLOAD);
    await page.locator('#console-input').press('Enter');
    await page.locator('#console-output', { hasText: '<img' }).waitFor({ timeout: 5_000 });
    await page.locator('#order-customer').fill(PAYLOAD);
    await page.getByRole('button', { name: 'Place an order with a locker reservation' }).click();
    await page.locator('article.order', { hasText: `Customer ${PAYLOAD}` }).waitFor({ timeout: 5_000 });

    expect(await page.locator('img:not(.qr), [onerror], b').count()).toBe(0);
    expect(await page.title()).not.toBe('1');
    for (const where of ['#locker-location', '#overview', '#event-log']) {
      expect(await page.locator(where).textContent(), where).toContain(PAYLOAD);
    }
    expect(await page.locator('#bank [data-id="A01"]').getAttribute('aria-label')).toContain(PAYLOAD);
    expect(browser.errors).toEqual([]);
  });
});
