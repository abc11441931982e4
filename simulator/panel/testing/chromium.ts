import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

// Debian's Chromium for the panel's browser tests (playwright cannot download browsers
// here): headless, no sandbox (root in CI), nothing that phones home, a fresh profile.
// Outside CI a machine without it skips with the reason; on CI it is a failure.

export const CHROMIUM = '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  const has = existsSync(CHROMIUM);
  if (!has && process.env['CI'] !== undefined) throw new Error(`${CHROMIUM} is required on CI for the panel browser tests (.ci/run installs it)`);
  if (!has) console.warn(`skipping the panel browser tests: ${CHROMIUM} is missing (apt-get install -y chromium)`);
  return has;
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Uncaught page exceptions and console errors, for tests to assert there were none. */
  errors: string[];
  close(): Promise<void>;
}

export async function openPanelPage(url: string): Promise<BrowserSession> {
  const profile = mkdtempSync(join(tmpdir(), 'panel-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 1000 },
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(url);
  await page.locator('#connection', { hasText: 'live' }).waitFor({ timeout: 15_000 });
  return {
    context, page, errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
