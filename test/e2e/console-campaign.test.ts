import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createVouchsafeClient, type VouchsafeClient } from '../../client/index.ts';
import { ensureConsoleBuilt } from '../../scripts/build-console.ts';
import { Engine } from '../../src/engine/engine.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { type RunningServer, startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { type Browser, browserUnavailable, collectErrors, launchBrowser } from '../support/browser.ts';

/** The campaign page in a browser whose local time is not UTC (Tokyo: UTC+9, no daylight saving). */
const admin_key = 'vs_test_admin_key_for_console_campaign_01';
/** Generous: this runs on slow, shared machines. */
const wait_ms = 30_000;
const timezone_id = 'Asia/Tokyo';

const unavailable = browserUnavailable();

describe('the campaign page, in Chromium on Tokyo time', { skip: unavailable ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-console-campaign-'));
  let server: RunningServer;
  let store: SqliteStore;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let admin: VouchsafeClient;

  before(async () => {
    assert.ok(await ensureConsoleBuilt(), 'the console must build');
    store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
    const engine = await Engine.open(store);
    server = await startServer({
      engine,
      port: 0,
      host: '127.0.0.1',
      handle_signals: false,
      bootstrap: { data_dir: dir, admin_key, print: () => {} },
    });
    admin = createVouchsafeClient(server.url, admin_key);
    browser = await launchBrowser({ timezone_id });
    page = await browser.context.newPage();
    page.setDefaultTimeout(wait_ms);
    errors = collectErrors(page);
    // The chart is a canvas: keep the text uPlot draws on it (its axis labels), the newest 500.
    await page.addInitScript(() => {
      const drawn: string[] = [];
      (window as unknown as { drawnText: string[] }).drawnText = drawn;
      const fillText = CanvasRenderingContext2D.prototype.fillText;
      CanvasRenderingContext2D.prototype.fillText = function (text: string, ...rest: [number, number]) {
        drawn.push(String(text));
        if (drawn.length > 500) drawn.splice(0, drawn.length - 500);
        return fillText.call(this, text, ...rest);
      };
    });
    await page.goto(`${server.url}/console`);
    await page.getByLabel('API key').fill(admin_key);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
    assert.equal(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone), timezone_id);
  });

  after(async () => {
    await browser?.close();
    if (server) {
      const report = await verifyStore(store);
      await server.close();
      assert.deepEqual(report.violations, []);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("the live chart's time axis is in UTC, as the rest of the console, not the browser's local time", async () => {
    const id = await createCampaign(admin, 'Chart clock', 'claim');
    const from_ms = Date.now();
    await page.goto(`${server.url}/console/campaigns/${id}`);
    // A few polls, so the chart has points and has drawn its axes with them.
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="live-chart"]')?.getAttribute('data-samples')) >= 4,
    );
    await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
    const drawn = await page.evaluate(() => (window as unknown as { drawnText: string[] }).drawnText.slice());
    const to_ms = Date.now();
    assert.ok(drawn.includes('Time (UTC)'), `the axis says its zone: ${JSON.stringify(drawn)}`);
    // The first tick carries the date and minute ("2026-01-01 08:00"), a new minute its "08:01".
    const labels = drawn.filter((t) => /^(\d{4}-\d\d-\d\d )?\d\d:\d\d$/.test(t));
    assert.ok(labels.length > 0, `24-hour times on the axis: ${JSON.stringify(drawn)}`);
    // Each is a UTC time of the last minutes (Tokyo's would be 9 hours off), dated in UTC.
    for (const label of labels) {
      assert.ok(nearUtc(label, from_ms - 180_000, to_ms + 60_000), `${label} is not UTC time now`);
    }
    assert.ok(
      labels.some((l) => l.includes('-')),
      'the first tick carries its date',
    );
  });

  test('no errors in the browser console', () => {
    assert.deepEqual(errors, []);
  });
});

if (unavailable) test.skip(`console campaign browser tests: ${unavailable}`);

/** Whether "HH:MM" or "YYYY-MM-DD HH:MM", read as UTC, is a minute between from_ms and to_ms. */
function nearUtc(label: string, from_ms: number, to_ms: number): boolean {
  const day_ms = 86_400_000;
  const [day, time] = label.includes(' ') ? label.split(' ') : [undefined, label];
  const [h, m] = (time ?? '').split(':').map(Number);
  const of_day_ms = ((h ?? 0) * 60 + (m ?? 0)) * 60_000;
  const days_ms =
    day === undefined
      ? [-1, 0, 1].map((d) => (Math.floor(from_ms / day_ms) + d) * day_ms)
      : [Date.parse(`${day}T00:00:00Z`)];
  return days_ms.some((midnight_ms) => {
    const at_ms = midnight_ms + of_day_ms;
    return at_ms + 60_000 > from_ms && at_ms <= to_ms;
  });
}

async function createCampaign(
  admin: VouchsafeClient,
  name: string,
  code_mode: 'claim' | 'unique_codes',
): Promise<string> {
  const now_ms = Date.now();
  const created = await admin.POST('/v1/campaigns', {
    body: {
      name,
      currency: 'CNY',
      discount: { type: 'fixed', amount_minor: 100 },
      min_spend_minor: 1_000,
      product_kinds: ['merchandise'],
      audience: { type: 'public' },
      starts_at: new Date(now_ms - 60_000).toISOString(),
      ends_at: new Date(now_ms + 30 * 86_400_000).toISOString(),
      budget_minor: 100_000,
      max_redemptions: 500,
      per_user_limit: 1,
      code_mode,
    },
  });
  assert.ok(created.data, JSON.stringify(created.error));
  return created.data.id;
}
