import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createVouchsafeClient, type VouchsafeClient } from '../../client/index.ts';
import type { RunningServer } from '../../src/http/server.ts';
import {
  type Browser,
  browserUnavailable,
  collectErrors,
  holdReads,
  horizontalOverflowPx,
  launchBrowser,
  recordPosts,
} from '../support/browser.ts';
import {
  type ConsoleServer,
  createCampaign,
  signIn,
  startConsoleServer,
  withPageSignedIn,
} from '../support/console-server.ts';

/** The campaign page in a browser whose local time is not UTC (Tokyo: UTC+9, no daylight saving). */
const admin_key = 'vs_test_admin_key_for_console_campaign_01';
/** Generous: this runs on slow, shared machines. */
const wait_ms = 30_000;
const timezone_id = 'Asia/Tokyo';

const unavailable = browserUnavailable();

describe('the campaign page, in Chromium on Tokyo time', { skip: unavailable ?? false }, () => {
  let cs: ConsoleServer | undefined;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let admin: VouchsafeClient;

  before(async () => {
    cs = await startConsoleServer(admin_key, { dir_prefix: 'vs-console-campaign-' });
    ({ server, admin } = cs);
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
    await signIn(page, server.url, admin_key);
    await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
    assert.equal(await page.evaluate(() => Intl.DateTimeFormat().resolvedOptions().timeZone), timezone_id);
  });

  after(async () => {
    await browser?.close();
    await cs?.close();
  });

  test("the live chart's time axis is in UTC, as the rest of the console, not the browser's local time", async () => {
    const id = await draft(admin, 'Chart clock', 'claim');
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

  test('an admin generates unique codes as a CSV file; a double click makes one set, also on a phone', async () => {
    const id = await draft(admin, 'Printed codes', 'unique_codes');
    await page.goto(`${server.url}/console/campaigns/${id}`);
    const section = page.getByRole('region', { name: 'Unique codes' });
    await section.getByText(/bearer secrets/).waitFor();
    await section.getByLabel('How many codes').fill('250');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      section.getByRole('button', { name: 'Generate codes' }).dblclick(),
    ]);
    await section.locator('[data-testid="codes-ready"][data-count="250"]').waitFor();
    assert.match(download.suggestedFilename(), new RegExp(`^codes-${id}-[\\d-]+\\.csv$`));
    const lines = readFileSync(await download.path(), 'utf8')
      .trimEnd()
      .split('\n');
    assert.equal(lines[0], 'code');
    const codes = lines.slice(1);
    assert.equal(new Set(codes).size, 250);
    assert.deepEqual(await codesGenerated(admin, id), [250], 'one set of 250, not two');
    // A code from the file is one the server knows: refused for the draft's status, not as unknown.
    const checked = await admin.POST('/v1/validations', {
      body: {
        user_id: 'u1',
        code: codes[0] ?? '',
        order: { id: 'o1', merchant_id: 'm1', amount_minor: 5_000, currency: 'CNY', product_kind: 'merchandise' },
      },
    });
    assert.equal(checked.data?.reason?.code, 'campaign_not_active', JSON.stringify(checked.data ?? checked.error));
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await section.getByRole('link', { name: 'Download again' }).waitFor();
      assert.equal(await horizontalOverflowPx(page), 0, 'the campaign page scrolls sideways at 390 px');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    await section.getByRole('button', { name: 'Done, forget the file' }).click();
    await section.getByRole('link', { name: 'Download again' }).waitFor({ state: 'detached' });
  });

  test('a retry after a lost answer sends the same Idempotency-Key and gets the same codes, not a second set', async () => {
    const id = await draft(admin, 'Lost answer', 'unique_codes');
    const keys: string[] = [];
    let lost: string[] = [];
    const codesRoute = (u: URL) => u.pathname === `/v1/campaigns/${id}/codes`;
    await page.route(codesRoute, async (route) => {
      keys.push(route.request().headers()['idempotency-key'] ?? '');
      if (keys.length > 1) return route.fallback();
      // The server makes the codes; the answer never reaches the console.
      const answer = await route.fetch();
      lost = ((await answer.json()) as { codes: string[] }).codes;
      return route.abort('connectionreset');
    });
    try {
      await page.goto(`${server.url}/console/campaigns/${id}`);
      const section = page.getByRole('region', { name: 'Unique codes' });
      await section.getByLabel('How many codes').fill('30');
      await section.getByRole('button', { name: 'Generate codes' }).click();
      await page.getByRole('alert').filter({ hasText: 'The server could not be reached.' }).waitFor();
      assert.equal(lost.length, 30);
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        section.getByRole('button', { name: 'Generate codes' }).click(),
      ]);
      const codes = readFileSync(await download.path(), 'utf8')
        .trimEnd()
        .split('\n')
        .slice(1);
      assert.equal(keys.length, 2);
      assert.match(keys[0] ?? '', /^console-codes-[0-9a-f]{32}$/);
      assert.equal(keys[1], keys[0], 'the retry sends the same Idempotency-Key');
      assert.deepEqual(codes, lost, 'the retry hands over the codes the lost answer held');
      assert.deepEqual(await codesGenerated(admin, id), [30]);
      // The next generation is a new one: a new key.
      await section.getByLabel('How many codes').fill('5');
      await section.getByRole('button', { name: 'Generate codes' }).click();
      await section.locator('[data-testid="codes-ready"][data-count="5"]').waitFor();
      assert.equal(keys.length, 3);
      assert.notEqual(keys[2], keys[0]);
      assert.deepEqual(await codesGenerated(admin, id), [30, 5]);
    } finally {
      await page.unroute(codesRoute);
    }
  });

  test('a key without the admin scope sees no codes control; other code modes have none', async () => {
    const unique_id = await draft(admin, 'Not for readers', 'unique_codes');
    const claim_id = await draft(admin, 'Claimed coupons', 'claim');
    await page.goto(`${server.url}/console/campaigns/${claim_id}`);
    await page.locator('article.campaign-page').waitFor();
    await page.getByRole('heading', { name: 'Lint' }).waitFor();
    assert.equal(await page.getByRole('region', { name: 'Unique codes' }).count(), 0);
    const made = await admin.POST('/v1/api-keys', { body: { name: 'reader', scopes: ['read'] } });
    assert.ok(made.data, JSON.stringify(made.error));
    await withPageSignedIn(browser.context, server.url, made.data.key, wait_ms, async (other) => {
      await other.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
      await other.goto(`${server.url}/console/campaigns/${unique_id}`);
      await other.locator('article.campaign-page').waitFor();
      // Its key has been read by now: the top merchants and alerts have loaded after it.
      await other.getByText('No alerts.').waitFor();
      assert.equal(await other.getByRole('region', { name: 'Unique codes' }).count(), 0);
    });
  });

  test('a submitted campaign cannot be submitted again while the page still shows it as a draft', async () => {
    const id = await draft(admin, 'Submitted once', 'claim');
    await page.goto(`${server.url}/console/campaigns/${id}`);
    const submit = page.getByRole('button', { name: 'Submit campaign' });
    await submit.waitFor();
    // Reads of the campaign are held: the page keeps showing the draft after the submit succeeds.
    const reads = await holdReads(page, (u) => u.pathname === `/v1/campaigns/${id}`);
    const submits = recordPosts(page, `/v1/campaigns/${id}/submit`);
    try {
      // The page's poll waits for each answer before the next: one held read stops it.
      await reads.reach(1);
      const answered = page.waitForResponse((r) => r.url().endsWith(`/v1/campaigns/${id}/submit`));
      await submit.click();
      assert.equal((await answered).status(), 200);
      // The read the submit asked for: by now the page has drawn what follows the submit.
      await reads.reach(2);
      assert.equal(await page.locator('article.campaign-page').getAttribute('data-status'), 'draft');
      assert.equal(await submit.isDisabled(), true, 'the button waits for the campaign to show its new status');
    } finally {
      submits.stop();
      await reads.release();
    }
    await page.locator('article.campaign-page[data-status="active"]').waitFor();
    assert.equal(submits.urls.length, 1);
  });

  test("the chart's peak is the last two minutes' as it says, not one from before the page slept", async () => {
    const made = await admin.POST('/v1/api-keys', { body: { name: 'checkout', scopes: ['checkout'] } });
    assert.ok(made.data, JSON.stringify(made.error));
    const checkout = createVouchsafeClient(server.url, made.data.key);
    const id = await createCampaign(admin, { name: 'Peak window', code_mode: 'shared_code', code: 'PEAKWINDOW' });
    const other = await browser.context.newPage();
    try {
      other.setDefaultTimeout(wait_ms);
      // The page's own clock, so it can sleep (a laptop lid closed, a tab's timers frozen) on demand.
      await other.clock.install();
      await signIn(other, server.url, admin_key);
      await other.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
      await other.goto(`${server.url}/console/campaigns/${id}`);
      const samples = () => other.getByTestId('live-chart').getAttribute('data-samples').then(Number);
      await other.waitForFunction(
        () => Number(document.querySelector('[data-testid="live-chart"]')?.getAttribute('data-samples')) >= 2,
      );
      for (let i = 0; i < 10; i++) {
        const r = await checkout.POST('/v1/redemptions', {
          body: {
            user_id: `peak_${i}`,
            code: 'PEAKWINDOW',
            confirm: true,
            order: {
              id: `o_peak_${i}`,
              merchant_id: 'm1',
              amount_minor: 5000,
              currency: 'CNY',
              product_kind: 'merchandise',
            },
          },
        });
        assert.equal(r.response.status, 201, JSON.stringify(r.error));
      }
      await other.locator('[data-testid="live-chart"][data-redeemed="10"]').waitFor();
      assert.ok(Number(await other.getByTestId('live-chart').getAttribute('data-peak-rate')) > 0);
      // Three minutes asleep, then a few polls more: nothing was redeemed in the last two minutes.
      await other.clock.fastForward(180_000);
      const woke = await samples();
      await other.waitForFunction(
        (n) => Number(document.querySelector('[data-testid="live-chart"]')?.getAttribute('data-samples')) >= n,
        woke + 3,
      );
      assert.equal(await other.getByTestId('live-chart').getAttribute('data-peak-rate'), '0.00');
      assert.equal(await other.getByTestId('live-chart').getAttribute('data-redeemed'), '10');
    } finally {
      await other.close();
    }
  });

  test('no errors in the browser console', () => {
    // The lost answer of the retry test is the console's own log of that failed request.
    assert.deepEqual(
      errors.filter((e) => !(e.includes('/codes') && e.includes('ERR_CONNECTION_RESET'))),
      [],
    );
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

/** The counts of the campaign's `codes.generated` audit entries, oldest first. */
async function codesGenerated(admin: VouchsafeClient, id: string): Promise<number[]> {
  const counts: number[] = [];
  let starting_after: string | undefined;
  for (;;) {
    const page = await admin.GET('/v1/audit', {
      params: { query: { limit: 100, ...(starting_after ? { starting_after } : {}) } },
    });
    assert.ok(page.data, JSON.stringify(page.error));
    for (const e of page.data.data) {
      if (e.chain === id && e.action === 'codes.generated') counts.unshift((e.data as { count: number }).count);
    }
    const last = page.data.data[page.data.data.length - 1];
    if (!page.data.has_more || last === undefined) return counts;
    starting_after = String(last.seq);
  }
}

/** A draft campaign of `code_mode` (never submitted: the page is all these tests look at). */
function draft(admin: VouchsafeClient, name: string, code_mode: 'claim' | 'unique_codes'): Promise<string> {
  return createCampaign(admin, { name, code_mode, max_redemptions: 500 }, null);
}
