import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page, Route } from 'playwright-core';
import { createVouchsafeClient, type VouchsafeClient } from '../../client/index.ts';
import { ensureConsoleBuilt } from '../../scripts/build-console.ts';
import { Engine } from '../../src/engine/engine.ts';
import { IdGenerator } from '../../src/engine/ids.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { type RunningServer, startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { type Browser, browserUnavailable, collectErrors, launchBrowser } from '../support/browser.ts';

/**
 * The console's lists past their first page (incidents, red envelopes, the approval queue), and
 * every page's errors announced to screen readers.
 */
const admin_key = 'vs_test_admin_key_for_console_lists_0001';
/** Generous: this runs on slow, shared machines. */
const wait_ms = 30_000;

const unavailable = browserUnavailable();

describe('console lists and errors, in Chromium', { skip: unavailable ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-console-lists-'));
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
    await page.goto(`${server.url}/console`);
    await page.getByLabel('API key').fill(approver.secret);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
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

  test('every page announces its errors (role="alert")', async () => {
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
      const fail = (route: Route) =>
        route.request().method() === 'GET'
          ? route.fulfill({
              status: 503,
              contentType: 'application/json',
              body: JSON.stringify({ error: { code: 'store_unavailable', message: 'Stubbed outage.' } }),
            })
          : route.fallback();
      await page.route(c.failing, fail);
      try {
        await page.goto(`${server.url}/console${c.path}`);
        await page.getByRole('alert').filter({ hasText: 'Stubbed outage. (store_unavailable)' }).first().waitFor();
      } finally {
        await page.unroute(c.failing, fail);
      }
    }
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

/** Creates a campaign whose worst case is above the approval threshold and submits it: pending_approval. */
async function pending(admin: VouchsafeClient, name: string): Promise<string> {
  const now_ms = Date.now();
  const created = await admin.POST('/v1/campaigns', {
    body: {
      name,
      currency: 'CNY',
      discount: { type: 'fixed', amount_minor: 100 },
      min_spend_minor: 1_000,
      product_kinds: ['merchandise'],
      audience: { type: 'public' },
      starts_at: new Date(now_ms).toISOString(),
      ends_at: new Date(now_ms + 86_400_000).toISOString(),
      budget_minor: 2_000_000,
      per_user_limit: 1,
      code_mode: 'claim',
    },
  });
  assert.ok(created.data, JSON.stringify(created.error));
  const submitted = await admin.POST('/v1/campaigns/{id}/submit', {
    params: { path: { id: created.data.id } },
    body: {},
  });
  assert.equal(submitted.data?.status, 'pending_approval', JSON.stringify(submitted.error ?? submitted.data?.lint));
  return created.data.id;
}
