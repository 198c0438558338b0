import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { projectRoot } from '../../lib/local-platform.js';

/**
 * Debian's Chromium, driven by playwright-core. Playwright's own browser downloads are never used:
 * the package is what `node scripts/setup-system.mjs --for tests` installs.
 */
export const chromiumPath = process.env.SENTINEL_CHROMIUM_PATH || '/usr/bin/chromium';

/** Quiet and offline: no update checks, sync, QUIC or other background traffic from the browser. */
const chromiumArgs = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: install Debian's chromium package (apt-get install chromium, or ` +
        'node scripts/setup-system.mjs --for tests), or point SENTINEL_CHROMIUM_PATH at a Chromium binary',
    );
  }
  return chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}

export const screenshotDir = join(projectRoot, 'docs', 'console');

/**
 * Saves the page as docs/console/<name>.png for the documentation, only when
 * SENTINEL_CONSOLE_SCREENSHOTS=1 (a normal test run writes nothing). Returns the file, or null.
 */
export async function screenshot(page: Page, name: string): Promise<string | null> {
  if (process.env.SENTINEL_CONSOLE_SCREENSHOTS !== '1') return null;
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name))
    throw new Error(`screenshot name ${JSON.stringify(name)}: use a-z, 0-9 and -`);
  await mkdir(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
