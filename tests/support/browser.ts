// A real browser for the console's tests: Debian's chromium, headless, driven by playwright-core (no
// browser of Playwright's own is downloaded). One launch per test file, a temp profile removed at close.
// Without chromium the file's tests are skips, listed by name; under CI=true (.ci/run installs it) the
// file fails instead, saying what to install.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium', '/snap/bin/chromium'];

export function findChromium(): string | undefined {
  return CANDIDATES.find((path): path is string => Boolean(path) && existsSync(path as string));
}

export const CHROMIUM_MISSING = 'chromium is not installed (Debian: apt-get install chromium; or set CHROMIUM_PATH): the console\'s browser tests cannot run';

/** The screenshots the README shows (docs/console/<name>.png); the others stay in the temp dir. */
const README_SHOTS = ['overview', 'sessions'];
/** Screenshots are for a person to look at, never asserted on: they are taken only when asked for, since a
 * full-page capture on a loaded machine once outlasted its timeout and failed a test that had passed. */
const WANT_SHOTS = process.env.KEEP_SCREENSHOTS === '1' || process.env.UPDATE_SCREENSHOTS === '1';

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** With KEEP_SCREENSHOTS=1 or UPDATE_SCREENSHOTS=1: writes a PNG of the page into the temp dir, and, for the pages the README shows, into docs/console/ when UPDATE_SCREENSHOTS=1. Otherwise nothing. */
  screenshot(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function launchBrowser(executablePath: string): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'tether-chromium-'));
  const shots = mkdtempSync(join(tmpdir(), 'tether-console-shots-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    locale: 'en-US',
    viewport: { width: 1280, height: 800 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(15_000);
  // Counts Content-Security-Policy violations on every page: a test asserts there were none.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', () => {
      const w = window as unknown as { __violations?: number };
      w.__violations = (w.__violations ?? 0) + 1;
    });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const docs = new URL('../../docs/console/', import.meta.url).pathname;
  return {
    context,
    page,
    async screenshot(name) {
      if (!WANT_SHOTS) return;
      const png = await page.screenshot({ fullPage: true, timeout: 60_000 });
      writeFileSync(join(shots, `${name}.png`), png);
      if (process.env.UPDATE_SCREENSHOTS === '1' && README_SHOTS.includes(name)) {
        mkdirSync(docs, { recursive: true });
        writeFileSync(join(docs, `${name}.png`), png);
      }
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
      if (process.env.KEEP_SCREENSHOTS !== '1') rmSync(shots, { recursive: true, force: true });
      else console.log(`screenshots kept in ${shots}`);
    },
  };
}
