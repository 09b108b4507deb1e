import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page, type Request, type Route } from 'playwright-core';

/** Debian's Chromium (apt-get install chromium); tests never download a browser. */
export const chromium_path = '/usr/bin/chromium';

export const chromium_args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Why browser tests cannot run here, or null when they can. Under CI a missing Chromium is a
 * failure (.ci/run installs it), so this only ever skips on a developer's machine.
 */
export function browserUnavailable(): string | null {
  if (existsSync(chromium_path)) return null;
  const message = `${chromium_path} is missing: install Debian's Chromium (apt-get install -y chromium) to run the browser tests`;
  if (process.env.CI) throw new Error(`${message}; under CI it must be there (.ci/run installs it)`);
  return message;
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Chromium with a fresh profile directory, removed again on close; `timezone_id` (an IANA name)
 * sets the browser's local time zone, so a test can tell local time from UTC.
 */
export async function launchBrowser(o: { timezone_id?: string } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'vs-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromium_path,
    headless: true,
    args: chromium_args,
    viewport: { width: 1280, height: 800 },
    ...(o.timezone_id === undefined ? {} : { timezoneId: o.timezone_id }),
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Every console error and uncaught page error, for an assertion that there are none. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}

/** How many CSS pixels the page is wider than its viewport (0: no horizontal scrolling). */
export async function horizontalOverflowPx(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/** The page's GET requests that match, held unanswered until release: what the page drew stays on screen. */
export interface HeldReads {
  /** Resolves once `n` reads have been held. */
  reach(n: number): Promise<void>;
  /** Lets every held read go on, and holds no more. */
  release(): Promise<void>;
}

export async function holdReads(page: Page, matches: (url: URL) => boolean): Promise<HeldReads> {
  const held: Route[] = [];
  let released = false;
  let changed: () => void = () => {};
  const hold = (route: Route) => {
    if (released || route.request().method() !== 'GET') return route.fallback();
    held.push(route);
    changed();
    return undefined;
  };
  await page.route(matches, hold);
  return {
    reach: (n) =>
      new Promise<void>((done) => {
        changed = () => (held.length >= n ? done() : undefined);
        changed();
      }),
    release: async () => {
      released = true;
      for (const route of held) await route.continue();
      await page.unroute(matches, hold);
    },
  };
}

/** The URLs of the page's POST requests whose URL ends with `suffix`, from now until stop(). */
export function recordPosts(page: Page, suffix: string): { urls: string[]; stop(): void } {
  const urls: string[] = [];
  const onRequest = (r: Request) => {
    if (r.method() === 'POST' && r.url().endsWith(suffix)) urls.push(r.url());
  };
  page.on('request', onRequest);
  return { urls, stop: () => page.off('request', onRequest) };
}
