import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page, Route } from 'playwright-core';
import type { VouchsafeClient } from '../../client/index.ts';
import { IdGenerator } from '../../src/engine/ids.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import type { RunningServer } from '../../src/http/server.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { type Browser, browserUnavailable, collectErrors, launchBrowser } from '../support/browser.ts';
import { type ConsoleServer, createCampaign, signIn, startConsoleServer } from '../support/console-server.ts';

/**
 * The console's lists past their first page (incidents, red envelopes, the approval queue), and
 * every page's errors announced to screen readers.
 */
const admin_key = 'vs_test_admin_key_for_console_lists_0001';
/** Generous: this runs on slow, shared machines. */
const wait_ms = 30_000;

const unavailable = browserUnavailable();

describe('console lists and errors, in Chromium', { skip: unavailable ?? false }, () => {
  let cs: ConsoleServer | undefined;
  let server: RunningServer;
  let store: SqliteStore;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let admin: VouchsafeClient;

  before(async () => {
    cs = await startConsoleServer(admin_key, { dir_prefix: 'vs-console-lists-' });
    ({ server, store, admin } = cs);
    // The console signs in with a key made as `vouchsafe keys create` makes one: outside the
    // bootstrap key's lineage, so it may approve what that key made.
    const approver = await createApiKey(store, new IdGenerator(), Date.now(), {
      name: 'console',
      scopes: ['admin'],
      actor: 'cli',
      created_by: null,
    });
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.setDefaultTimeout(wait_ms);
    errors = collectErrors(page);
    await signIn(page, server.url, approver.secret);
    await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await cs?.close();
  });

  test('the approval queue pages past 100 pending campaigns, and the oldest can be approved', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 101; i++) ids.push(await pending(admin, `Pending ${i}`));
    const oldest = ids[0] ?? '';
    await page.goto(`${server.url}/console/approvals`);
    const cards = page.getByRole('list', { name: 'Campaigns pending approval' }).locator('li[data-campaign-id]');
    await cards.nth(99).waitFor();
    assert.equal(await cards.count(), 100);
    const card = page.locator(`li[data-campaign-id="${oldest}"]`);
    assert.equal(await card.count(), 0, 'the oldest pending campaign is past the first page');
    await page.getByRole('button', { name: 'Older pending campaigns' }).click();
    await card.waitFor();
    await card.getByRole('button', { name: 'Approve Pending 0' }).click();
    await card.waitFor({ state: 'detached' });
    const approved = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: oldest } } });
    assert.equal(approved.data?.status, 'active');
    // 100 still wait: the whole queue fits one page again, so the button is gone.
    await page.getByRole('button', { name: 'Older pending campaigns' }).waitFor({ state: 'detached' });
    assert.equal(await cards.count(), 100);
  });

  test('the incident list pages past the newest 50', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 51; i++) {
      const opened = await admin.POST('/v1/incidents', {
        body: { title: `Incident ${i}`, scope: { merchant_ids: [`m_${i}`] }, actions: ['freeze_redemptions'] },
      });
      assert.ok(opened.data, JSON.stringify(opened.error));
      ids.push(opened.data.id);
    }
    await page.goto(`${server.url}/console/incidents`);
    const items = page.locator('ul.incident-list li[data-incident-id]');
    await items.nth(49).waitFor();
    const oldest = page.locator(`li[data-incident-id="${ids[0]}"]`);
    assert.equal(await oldest.count(), 0, 'the oldest incident is past the first page');
    await page.getByRole('button', { name: 'Older incidents' }).click();
    await oldest.waitFor();
    assert.equal(await items.count(), 51);
    assert.equal(await page.getByRole('button', { name: 'Older incidents' }).count(), 0);
  });

  test('the red envelope list pages past the newest 50', async () => {
    const ids: string[] = [];
    const expires_at = new Date(Date.now() + 86_400_000).toISOString();
    for (let i = 0; i < 51; i++) {
      const made = await admin.POST('/v1/red-envelopes', {
        body: { currency: 'CNY', total_minor: 1_000 + i, count: 2, expires_at },
      });
      assert.ok(made.data, JSON.stringify(made.error));
      ids.push(made.data.id);
    }
    await page.goto(`${server.url}/console/red-envelopes`);
    const items = page.getByRole('list', { name: 'Red envelopes' }).locator('li[data-envelope-id]');
    await items.nth(49).waitFor();
    const oldest = page.locator(`li[data-envelope-id="${ids[0]}"]`);
    assert.equal(await oldest.count(), 0, 'the oldest envelope is past the first page');
    await page.getByRole('button', { name: 'Older red envelopes' }).click();
    await oldest.waitFor();
    assert.equal(await items.count(), 51);
  });

  test('every page announces its errors (role="alert"), with the wait a Retry-After asks for', async () => {
    const campaign_id = await pending(admin, 'Errors');
    const cases: { path: string; failing: (url: URL) => boolean }[] = [
      { path: '/incidents', failing: (u) => u.pathname === '/v1/incidents' },
      { path: '/red-envelopes', failing: (u) => u.pathname === '/v1/red-envelopes' },
      { path: '/developers', failing: (u) => u.pathname === '/v1/api-keys' },
      { path: '/developers', failing: (u) => u.pathname === '/v1/webhooks' },
      { path: `/campaigns/${campaign_id}`, failing: (u) => u.pathname.endsWith('/exposure') },
      { path: `/campaigns/${campaign_id}`, failing: (u) => u.pathname === '/v1/alerts' },
      { path: '/approvals', failing: (u) => u.pathname === '/v1/campaigns' },
    ];
    for (const c of cases) {
      const fail = (route: Route) => outage(route, 3);
      await page.route(c.failing, fail);
      try {
        await page.goto(`${server.url}/console${c.path}`);
        // The API's message and code, and the wait its Retry-After asks for.
        const said = 'Stubbed outage. (store_unavailable). Try again in 3 s.';
        await page.getByRole('alert').filter({ hasText: said }).first().waitFor();
      } finally {
        await page.unroute(c.failing, fail);
      }
    }
  });

  test('the incident form says when its campaigns failed to load, and lists them once the server answers again', async () => {
    const name = 'Picker after an outage';
    await createCampaign(admin, { name });
    const campaigns = (u: URL) => u.pathname === '/v1/campaigns';
    const fail = (route: Route) => outage(route);
    await page.route(campaigns, fail);
    try {
      await page.goto(`${server.url}/console/incidents`);
      await page
        .getByRole('group', { name: 'Campaigns in scope' })
        .getByRole('alert')
        .filter({ hasText: 'Stubbed outage. (store_unavailable).' })
        .waitFor();
    } finally {
      await page.unroute(campaigns, fail);
    }
    // The next try, as the Retry-After asks, finds the campaign to pick: no reload needed.
    await page.getByLabel(`${name} (active)`).waitFor();
    assert.equal(await page.getByRole('group', { name: 'Campaigns in scope' }).getByRole('alert').count(), 0);
  });

  test('an incident page whose campaigns cannot be read says so, and reads its money in their currency once they can', async () => {
    const campaign_id = await createCampaign(admin, { name: 'Read after an outage' });
    const opened = await admin.POST('/v1/incidents', {
      body: { title: 'Campaigns unreadable', scope: { campaign_ids: [campaign_id] }, actions: ['pause_campaigns'] },
    });
    assert.ok(opened.data, JSON.stringify(opened.error));
    const campaign = (u: URL) => u.pathname === `/v1/campaigns/${campaign_id}`;
    const fail = (route: Route) => outage(route);
    await page.route(campaign, fail);
    try {
      await page.goto(`${server.url}/console/incidents/${opened.data.id}`);
      await page.locator('article.incident-page').waitFor();
      // Money in minor units and the campaign as its id: the page says why.
      await page.getByRole('alert').filter({ hasText: 'Stubbed outage. (store_unavailable).' }).waitFor();
    } finally {
      await page.unroute(campaign, fail);
    }
    await page.getByRole('link', { name: 'Read after an outage' }).waitFor();
    await page.getByTestId('frozen-money').getByText('0.00 CNY', { exact: true }).waitFor();
    assert.equal(await page.getByRole('alert').count(), 0);
  });

  test('an incident page shown says when its updates fail, not only before its first answer', async () => {
    const opened = await admin.POST('/v1/incidents', {
      body: { title: 'Updates failing', scope: { merchant_ids: ['m_updates'] }, actions: ['freeze_redemptions'] },
    });
    assert.ok(opened.data, JSON.stringify(opened.error));
    await page.goto(`${server.url}/console/incidents/${opened.data.id}`);
    await page.locator('article.incident-page[data-status="open"]').waitFor();
    const incident = (u: URL) => u.pathname === `/v1/incidents/${opened.data?.id}`;
    const fail = (route: Route) => outage(route);
    await page.route(incident, fail);
    try {
      await page.getByRole('alert').filter({ hasText: 'Stubbed outage. (store_unavailable).' }).waitFor();
      assert.equal(await page.locator('article.incident-page').count(), 1, 'the last answer stays on screen');
    } finally {
      await page.unroute(incident, fail);
    }
    await page.getByRole('alert').waitFor({ state: 'detached' });
  });

  test('no errors in the browser console but the stubbed outages', () => {
    const stubbed = (e: string) => e.startsWith('console: ') && e.includes('status of 503');
    assert.deepEqual(
      errors.filter((e) => !stubbed(e)),
      [],
    );
  });
});

if (unavailable) test.skip(`console list browser tests: ${unavailable}`);

/** A GET answered 503 store_unavailable with a Retry-After; anything else goes on to the server. */
function outage(route: Route, retry_after_s = 1): Promise<void> {
  return route.request().method() === 'GET'
    ? route.fulfill({
        status: 503,
        contentType: 'application/json',
        headers: { 'retry-after': String(retry_after_s) },
        body: JSON.stringify({ error: { code: 'store_unavailable', message: 'Stubbed outage.' } }),
      })
    : route.fallback();
}

/** Creates a campaign whose worst case is above the approval threshold and submits it: pending_approval. */
function pending(admin: VouchsafeClient, name: string): Promise<string> {
  return createCampaign(admin, { name, budget_minor: 2_000_000 }, 'pending_approval');
}
