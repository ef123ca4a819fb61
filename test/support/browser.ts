/**
 * A headless Chromium (Debian's `chromium`, driven by playwright-core) for tests of the dashboard:
 * a page that records every request it makes, every console error and every uncaught error.
 */
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export interface WatchedPage {
  page: Page;
  requests: string[];
  errors: string[];
}

export function launchBrowser(): Promise<Browser> {
  // no sandbox: tests run as root in a container, where Chromium's sandbox cannot start
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 60_000 });
}

export async function watchedPage(browser: Browser): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, requests, errors };
}

/** The number of x values each chart of the page draws (its data-points), by chart name. */
export function chartPoints(page: Page): Promise<Record<string, number>> {
  return page.$$eval('[data-chart]', (els) =>
    Object.fromEntries(els.map((e) => [e.getAttribute('data-chart') ?? '', Number(e.getAttribute('data-points') ?? -1)])),
  );
}
