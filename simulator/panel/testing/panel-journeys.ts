import type { Locator, Page } from 'playwright-core';

// What a technician does on the panel, step by step, through the page only (buttons,
// labels, the keypad): the browser tests play these against the fake port, and the same
// journeys run against a real simulator session once the panel is wired onto it. Every
// wait names what it waits for, so a failure says which step broke.

export interface JourneyOptions {
  lockerId: string;
  size?: 'S' | 'M' | 'L' | 'XL';
  /** Per step: a real locker takes seconds to report a jam; the fake is instant. */
  stepTimeoutMs?: number;
}

export interface PickupResult {
  orderId: string;
  shipmentId: string;
  compartmentId: string;
  code: string;
}

async function step(what: string, locator: Locator, timeout: number): Promise<void> {
  try {
    await locator.first().waitFor({ state: 'visible', timeout });
  } catch (err) {
    throw new Error(`panel journey: waited ${String(timeout)} ms for ${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}

/** Places an order with a locker reservation from the backend pane; returns what the page says it got. */
export async function placeOrder(page: Page, o: JourneyOptions): Promise<Omit<PickupResult, 'code'>> {
  const timeout = o.stepTimeoutMs ?? 10_000;
  await page.getByLabel('Locker bank', { exact: true }).selectOption(o.lockerId);
  await page.getByLabel('Size', { exact: true }).selectOption(o.size ?? 'M');
  const before = await page.locator('article.order').count();
  await page.getByRole('button', { name: 'Place an order with a locker reservation' }).click();
  const message = page.locator('#backend-message', { hasText: /order \S+ placed: shipment \S+ goes to compartment \S+/ });
  await step('the order to be placed', message, timeout);
  const match = /order (\S+) placed: shipment (\S+) goes to compartment (\S+)/.exec((await message.textContent()) ?? '');
  if (match === null) throw new Error('panel journey: the order message has no ids');
  const [, orderId = '', shipmentId = '', compartmentId = ''] = match;
  await step(`order ${orderId} in the backend pane`, page.locator(`article.order[data-order-id="${orderId}"]`), timeout);
  if ((await page.locator('article.order').count()) <= before) throw new Error('panel journey: no new order card');
  return { orderId, shipmentId, compartmentId };
}

/** The courier: credential into the scanner, scan; parcel barcode into the scanner, scan. */
export async function courierScans(page: Page, shipmentId: string, o: JourneyOptions): Promise<void> {
  const timeout = o.stepTimeoutMs ?? 10_000;
  const scanner = page.getByLabel('Scanner: a barcode, a courier credential or a QR token');
  await scanner.fill('');
  await page.getByRole('button', { name: 'Courier credential into the scanner' }).click();
  // (Polled from here: the page's CSP rightly forbids the string evaluation waitForFunction uses.)
  const deadline = Date.now() + timeout;
  while ((await scanner.inputValue()) === '') {
    if (Date.now() > deadline) throw new Error(`panel journey: waited ${String(timeout)} ms for the courier credential in the scanner box`);
    await page.waitForTimeout(50);
  }
  await page.getByRole('button', { name: 'Scan', exact: true }).click();
  await page.getByRole('button', { name: `Parcel barcode ${shipmentId} into the scanner` }).click();
  if ((await scanner.inputValue()) !== shipmentId) throw new Error('panel journey: the barcode is not in the scanner box');
  await page.getByRole('button', { name: 'Scan', exact: true }).click();
}

const compartment = (page: Page, id: string, attrs: string): Locator => page.locator(`#bank [data-id="${id}"]${attrs}`);

/**
 * Order → courier deposit → the customer's code from the notification → typed on the
 * panel's keypad → the door opens and the parcel is collected → door closed, free again.
 */
export async function pickupJourney(page: Page, o: JourneyOptions): Promise<PickupResult> {
  const timeout = o.stepTimeoutMs ?? 10_000;
  const placed = await placeOrder(page, o);
  const { orderId, shipmentId, compartmentId } = placed;
  await courierScans(page, shipmentId, o);
  await step(`door ${compartmentId} open for the deposit`, compartment(page, compartmentId, '[data-door="open"]'), timeout);
  await page.getByRole('button', { name: `Close ${compartmentId}` }).click();
  await step(`${compartmentId} occupied`, compartment(page, compartmentId, '[data-status="occupied"]'), timeout);

  const order = page.locator(`article.order[data-order-id="${orderId}"]`);
  const codeLocator = order.locator('.notification[data-kind="parcel.ready_for_pickup"] .pickup-code');
  await step('the pickup code in the customer notification', codeLocator, timeout);
  await step('the pickup QR code image', order.getByRole('img', { name: `Pickup QR code for shipment ${shipmentId}` }), timeout);
  const code = ((await codeLocator.first().textContent()) ?? '').trim();
  if (!/^\d{4,12}$/.test(code)) throw new Error(`panel journey: '${code}' is not a pickup code`);

  const keypad = page.getByRole('group', { name: /^Keypad/ });
  for (const digit of code) await keypad.getByRole('button', { name: digit, exact: true }).click();
  // Enter on the focused keypad is '#': the keyboard works as well as the mouse.
  await keypad.focus();
  await page.keyboard.press('Enter');
  await step(`door ${compartmentId} open for the pickup`, compartment(page, compartmentId, '[data-door="open"]'), timeout);
  await step(`shipment ${shipmentId} collected`, order.locator(`li.shipment[data-shipment-id="${shipmentId}"][data-state="collected"]`), timeout);
  await page.getByRole('button', { name: `Close ${compartmentId}` }).click();
  await step(`${compartmentId} free again`, compartment(page, compartmentId, '[data-status="free"][data-door="closed"]'), timeout);
  return { ...placed, code };
}

/** A jammed door on the reserved compartment: the courier's scan raises the alarm, the page shows it. */
export async function jammedDoorJourney(page: Page, o: JourneyOptions): Promise<{ compartmentId: string; alarm: string }> {
  const timeout = o.stepTimeoutMs ?? 10_000;
  const { shipmentId, compartmentId } = await placeOrder(page, o);
  await page.getByLabel('Compartment', { exact: true }).selectOption(compartmentId);
  await page.getByRole('button', { name: 'Jam the door' }).click();
  await step(`the fault badge on ${compartmentId}`, compartment(page, compartmentId, '').locator('.badge.fault', { hasText: 'door-jammed' }), timeout);
  await courierScans(page, shipmentId, o);
  const alarm = page.locator('#event-log li.level-alarm', { hasText: /jammed/i });
  await step('the jammed-door alarm in the event stream', alarm, timeout);
  await step(`${compartmentId} out of service`, compartment(page, compartmentId, '[data-status="out-of-service"]'), timeout);
  const announced = (await page.locator('#announcer').textContent()) ?? '';
  if (announced.trim() === '') throw new Error('panel journey: no alarm announced to screen readers');
  return { compartmentId, alarm: ((await alarm.first().textContent()) ?? '').trim() };
}
