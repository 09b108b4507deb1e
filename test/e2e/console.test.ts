import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { createVouchsafeClient, type VouchsafeClient } from '../../client/index.ts';
import { type AuditDigest, digestDefect } from '../../src/engine/audit-digest.ts';
import { IdGenerator } from '../../src/engine/ids.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { verifySignature } from '../../src/events/signature.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import type { RunningServer } from '../../src/http/server.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import {
  type Browser,
  browserUnavailable,
  collectErrors,
  holdReads,
  horizontalOverflowPx,
  launchBrowser,
  recordPosts,
} from '../support/browser.ts';
import { type ConsoleServer, createCampaign, startConsoleServer } from '../support/console-server.ts';

const admin_key = 'vs_test_admin_key_for_console_e2e_0001';
const campaign_name = 'E2E spring sale';
const shared_code = 'E2ESPRING';
/** 2.50 CNY off each order. */
const discount_minor = 250;

const unavailable = browserUnavailable();

describe('admin console in Chromium', { skip: unavailable ?? false }, () => {
  let cs: ConsoleServer | undefined;
  let server: RunningServer;
  let store: SqliteStore;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let admin: VouchsafeClient;
  let checkout: VouchsafeClient;
  let campaign_id = '';

  before(async () => {
    // The Developers page's webhook posts to a receiver on this machine.
    cs = await startConsoleServer(admin_key, { events: { allow_private: true } });
    ({ server, store, admin } = cs);
    const key = await admin.POST('/v1/api-keys', { body: { name: 'checkout', scopes: ['checkout'] } });
    assert.ok(key.data, JSON.stringify(key.error));
    checkout = createVouchsafeClient(server.url, key.data.key);
    browser = await launchBrowser();
    page = await browser.context.newPage();
    errors = collectErrors(page);
  });

  after(async () => {
    await browser?.close();
    // Every money invariant and audit chain still holds after what the console did.
    await cs?.close();
  });

  test('sign in with the keyboard: label, key, Enter', async () => {
    await page.goto(`${server.url}/console`);
    const input = page.getByLabel('API key');
    await input.focus();
    await page.keyboard.type(admin_key);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('vouchsafe.api_key')), admin_key);
  });

  test('the create form shows lint and worst case as you type, then creates a draft', async () => {
    await page.getByRole('link', { name: 'New campaign' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'New campaign' }).waitFor();
    await page.getByLabel('Name').fill(campaign_name);
    await page.getByLabel('Amount off').fill('4500');
    const outcome = page.getByTestId('dry-run-outcome');
    // 45.00 off a 50.00 minimum spend: nearly free, so a warning and a second key's approval.
    await page.locator('[data-rule="discount_near_min_spend"]').waitFor();
    assert.equal(await outcome.getAttribute('data-outcome'), 'pending_approval');
    await page.getByLabel('Amount off').fill(String(discount_minor));
    await page.getByLabel('Per user limit (optional)').fill('100');
    await page.getByLabel('Max redemptions (optional)').fill('');
    await page.getByLabel('How users get coupons').selectOption('shared_code');
    await page.getByLabel('Shared code').fill(shared_code);
    await page.locator('[data-testid="dry-run-outcome"][data-outcome="active"]').waitFor();
    assert.equal(await page.locator('[data-rule]').count(), 0, 'a clean campaign has no findings');
    // No max_redemptions: the worst case is the whole budget (100000 minor units).
    await page.locator('[data-testid="dry-run-exposure"][data-minor="100000"]').waitFor();
    await page.getByRole('button', { name: 'Create draft' }).click();
    await page.getByRole('heading', { level: 1, name: campaign_name }).waitFor();
    campaign_id = (await page.locator('article.campaign-page').getAttribute('data-campaign-id')) ?? '';
    assert.match(campaign_id, /^cmp_/);
    await page.getByRole('button', { name: 'Submit campaign' }).click();
    await page.locator('article.campaign-page[data-status="active"]').waitFor();
  });

  test('the campaign is in the list with its status, budget and exposure', async () => {
    await nav(page, 'Campaigns');
    const card = page.locator(`li[data-campaign-id="${campaign_id}"]`);
    await card.waitFor();
    assert.equal(await card.getAttribute('data-status'), 'active');
    const text = (await card.textContent()) ?? '';
    assert.match(text, /1,000\.00 CNY/);
    assert.match(text, /No lint findings/);
    await card.getByRole('link', { name: campaign_name }).click();
    await page.getByRole('heading', { level: 1, name: campaign_name }).waitFor();
  });

  test('the live chart and top merchants follow redemptions made through the API', async () => {
    const chart = page.getByTestId('live-chart');
    await page.waitForFunction(
      () => Number(document.querySelector('[data-testid="live-chart"]')?.getAttribute('data-samples')) >= 2,
    );
    assert.equal(await chart.getAttribute('data-redeemed'), '0');
    // Three bursts of different sizes a second or more apart; every fourth one only holds budget.
    let confirmed = 0;
    let made = 0;
    for (const [burst, size] of [6, 14, 10].entries()) {
      const answers = await Promise.all(
        Array.from({ length: size }, (_, i) => redeem(checkout, `u${burst}_${i}`, `m${i % 3}`, i % 4 !== 3)),
      );
      assert.deepEqual(new Set(answers), new Set([201]));
      confirmed += Array.from({ length: size }, (_, i) => i % 4 !== 3).filter(Boolean).length;
      made += size;
      await new Promise((r) => setTimeout(r, 1200));
    }
    await page.locator(`[data-testid="live-chart"][data-redeemed="${confirmed}"]`).waitFor();
    assert.ok(Number(await chart.getAttribute('data-peak-rate')) > 0, 'the chart shows a rate above zero');
    assert.equal(await chart.getAttribute('data-committed-minor'), String(made * discount_minor));
    assert.equal(await page.getByTestId('redeemed-total').textContent(), String(confirmed));
    // Top merchants counts holds and confirmed redemptions alike.
    await page.locator(`[data-testid="top-merchants"][data-total-count="${made}"]`).waitFor();
    assert.equal(await page.locator('table.merchants tbody tr').count(), 3);
    assert.equal(await page.locator('tr[data-merchant-id="m0"]').getAttribute('data-count'), '11');
    assert.ok((await page.locator('.live-chart canvas').count()) > 0, 'uPlot drew a canvas');
    await page.getByRole('heading', { name: 'Alerts' }).waitFor();
    await page.getByText('No alerts.').waitFor();
  });

  test('a dialog asks before the kill switch acts; Escape cancels', async () => {
    const revoke = page.getByRole('button', { name: 'Revoke campaign' });
    await revoke.click();
    const dialog = page.getByRole('dialog', { name: 'Revoke this campaign for good?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Revoke campaign');
    assert.equal(await page.locator('article.campaign-page').getAttribute('data-status'), 'active');
  });

  test('pause with the kill switch stops redemptions', async () => {
    await page.getByRole('button', { name: 'Pause campaign' }).click();
    const dialog = page.getByRole('dialog', { name: 'Pause this campaign?' });
    await dialog.getByLabel('Reason (optional)').fill('e2e: suspicious spike');
    await dialog.getByRole('button', { name: 'Pause now' }).click();
    await page.locator('article.campaign-page[data-status="paused"]').waitFor();
    await page.getByRole('status').getByText('Campaign paused.').waitFor();
    assert.equal(
      await page.evaluate(() => document.activeElement?.textContent),
      'Kill switch',
      'focus stays in the panel',
    );
    const refused = await redeem(checkout, 'late_user', 'm0');
    assert.equal(refused, 422);
    const got = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: campaign_id } } });
    assert.equal(got.data?.status, 'paused');
    assert.equal(got.data?.status_reason, 'e2e: suspicious spike');
  });

  test('open an incident from a scope, read its report, resolve it by reversing', async () => {
    const before = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: campaign_id } } });
    const committed = (b?: { spent_minor: number; reserved_minor: number }) =>
      b ? b.spent_minor + b.reserved_minor : -1;
    const committed_before = committed(before.data?.budget);
    assert.ok(committed_before > 0);
    await nav(page, 'Incidents');
    await page.getByLabel('Title').fill('E2E leak');
    await page.getByLabel(`${campaign_name} (paused)`).check();
    await page.getByRole('button', { name: 'Open incident' }).click();
    const dialog = page.getByRole('dialog', { name: 'Open this incident?' });
    await dialog.getByRole('button', { name: 'Open incident now' }).click();
    const article = page.locator('article.incident-page[data-status="open"]');
    await article.waitFor();
    const incident_id = (await article.getAttribute('data-incident-id')) ?? '';
    const wire = await admin.GET('/v1/incidents/{id}', { params: { path: { id: incident_id } } });
    const report = wire.data?.report;
    assert.ok(report, 'the incident has its report');
    assert.ok(report.frozen_count > 0);
    const shown = page.getByTestId('incident-report');
    assert.equal(await shown.getAttribute('data-frozen-count'), String(report.frozen_count));
    assert.equal(await shown.getAttribute('data-frozen-minor'), String(report.frozen_minor));
    assert.ok(report.released_holds_count > 0, 'the campaign had holds in flight');
    assert.equal(await shown.getAttribute('data-released-count'), String(report.released_holds_count));
    assert.equal(await shown.getAttribute('data-released-minor'), String(report.released_holds_minor));
    const released = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: campaign_id } } });
    assert.equal(released.data?.budget.reserved_minor, 0, 'the holds were released');
    await page.getByRole('button', { name: 'Reverse frozen redemptions' }).click();
    const resolve = page.getByRole('dialog', { name: 'Reverse the frozen redemptions?' });
    await resolve.getByRole('button', { name: 'Reverse them' }).click();
    await page.locator('article.incident-page[data-status="resolved"]').waitFor();
    assert.match((await page.getByTestId('incident-resolution').textContent()) ?? '', /^Reversed/);
    const after = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: campaign_id } } });
    // The freeze released the holds and froze the confirmed ones; reversing gave the frozen money back too.
    const given_back = report.frozen_minor + report.released_holds_minor;
    assert.equal(committed(after.data?.budget), committed_before - given_back);
  });

  test('opening an incident again after a lost answer sends the same Idempotency-Key: one incident, not two', async () => {
    const listed = async () =>
      (await admin.GET('/v1/incidents', { params: { query: { limit: 100 } } })).data?.data ?? [];
    const before = (await listed()).length;
    const keys: string[] = [];
    const incidentsRoute = (u: URL) => u.pathname === '/v1/incidents';
    await page.route(incidentsRoute, async (route) => {
      if (route.request().method() !== 'POST') return route.fallback();
      keys.push(route.request().headers()['idempotency-key'] ?? '');
      if (keys.length > 1) return route.fallback();
      // The server opens the incident; the answer never reaches the console.
      await route.fetch();
      return route.abort('connectionreset');
    });
    try {
      await nav(page, 'Incidents');
      await page.getByLabel('Title').fill('E2E lost answer');
      await page.getByLabel(`${campaign_name} (paused)`).check();
      await page.getByLabel('Freeze their redemptions', { exact: false }).uncheck();
      await page.getByRole('button', { name: 'Open incident' }).click();
      const dialog = page.getByRole('dialog', { name: 'Open this incident?' });
      await dialog.getByRole('button', { name: 'Open incident now' }).click();
      await dialog.getByRole('alert').filter({ hasText: 'The server could not be reached.' }).waitFor();
      await dialog.getByRole('button', { name: 'Open incident now' }).click();
      const article = page.locator('article.incident-page');
      await article.waitFor();
      assert.equal(keys.length, 2);
      assert.match(keys[0] ?? '', /^console-incident-[0-9a-f]{32}$/);
      assert.equal(keys[1], keys[0], 'the retry sends the same Idempotency-Key');
      const after = await listed();
      assert.equal(after.length, before + 1, 'one incident opened');
      assert.equal(await article.getAttribute('data-incident-id'), after[0]?.id);
    } finally {
      await page.unroute(incidentsRoute);
    }
    // The lost answer is the browser's own log of the request it never got back.
    const logged = errors.findIndex((e) => e.includes('ERR_CONNECTION_RESET'));
    assert.notEqual(logged, -1, JSON.stringify(errors));
    errors.splice(logged, 1);
  });

  test('red envelopes show how far they have been grabbed', async () => {
    const expires_at = new Date(Date.now() + 86_400_000).toISOString();
    const made = await admin.POST('/v1/red-envelopes', {
      // Packets stay below 50.00, which the lint calls high value: the envelope needs no approval.
      body: { currency: 'CNY', total_minor: 4_000, count: 10, expires_at },
    });
    assert.ok(made.data, JSON.stringify(made.error));
    const id = made.data.id;
    for (const user_id of ['g1', 'g2']) {
      const grab = await checkout.POST('/v1/red-envelopes/{id}/grab', { params: { path: { id } }, body: { user_id } });
      assert.equal(grab.response.status, 201, JSON.stringify(grab.error));
    }
    await nav(page, 'Red envelopes');
    const card = page.locator(`li[data-envelope-id="${id}"]`);
    await card.getByText('Packets grabbed: 2 of 10').waitFor();
    await card.getByRole('link').click();
    await page.locator(`article[data-envelope-id="${id}"] [data-grabbed-count="2"]`).waitFor();
  });

  /**
   * A client with an admin key made on the server, as `vouchsafe keys create` makes it: no creator,
   * so the signed-in admin key is not in its lineage and may approve its work.
   */
  async function outsideMaker(name: string): Promise<VouchsafeClient> {
    const made = await createApiKey(store, new IdGenerator(), Date.now(), {
      name,
      scopes: ['admin'],
      actor: 'cli',
      created_by: null,
    });
    return createVouchsafeClient(server.url, made.secret);
  }

  test('the approval queue approves a risky campaign made by another key, and says why it refuses one by a key it made', async () => {
    const maker = await outsideMaker('maker');
    // No per-user limit is a lint warning: submitting sends it for approval.
    const id = await launchCampaign(
      maker,
      'E2E risky campaign',
      'E2ERISKY',
      { per_user_limit: null },
      'pending_approval',
    );
    // A key the signed-in key minted: its work is the signed-in key's own.
    const deputy_key = await admin.POST('/v1/api-keys', { body: { name: 'deputy', scopes: ['admin'] } });
    assert.ok(deputy_key.data, JSON.stringify(deputy_key.error));
    const deputy = createVouchsafeClient(server.url, deputy_key.data.key);
    const own = await launchCampaign(
      deputy,
      'E2E deputy campaign',
      'E2EDEPUTY',
      { per_user_limit: null },
      'pending_approval',
    );
    await nav(page, 'Approvals');
    const mine = page.locator(`li[data-campaign-id="${own}"]`);
    await mine.getByRole('button', { name: 'Approve E2E deputy campaign' }).click();
    await mine.getByRole('alert').getByText('a key may not approve the work of keys it made').waitFor();
    // The refusal is an answer the page shows, not a fault; the browser logs its 403 all the same.
    const logged = errors.findIndex((e) => e.includes('status of 403') && e.includes(`/v1/campaigns/${own}/approve`));
    assert.notEqual(logged, -1, JSON.stringify(errors));
    errors.splice(logged, 1);
    const card = page.locator(`li[data-campaign-id="${id}"]`);
    await card.locator('[data-rule="no_per_user_limit"]').waitFor();
    await card.getByRole('button', { name: 'Approve E2E risky campaign' }).click();
    await card.waitFor({ state: 'detached' });
    const got = await admin.GET('/v1/campaigns/{id}', { params: { path: { id } } });
    assert.equal(got.data?.status, 'active');
    const refused = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: own } } });
    assert.equal(refused.data?.status, 'pending_approval');
  });

  test('an approved card cannot be approved again while the queue still shows it', async () => {
    const maker = await outsideMaker('maker of one');
    const id = await launchCampaign(
      maker,
      'E2E approved once',
      'E2EONCE',
      { per_user_limit: null },
      'pending_approval',
    );
    await nav(page, 'Approvals');
    const card = page.locator(`li[data-campaign-id="${id}"]`);
    const approve = card.getByRole('button', { name: 'Approve E2E approved once' });
    await approve.waitFor();
    // Reads of the queue are held: the card stays on the page after the approval succeeds.
    const reads = await holdReads(page, (u) => u.pathname === '/v1/campaigns');
    const approvals = recordPosts(page, `/v1/campaigns/${id}/approve`);
    try {
      const answered = page.waitForResponse((r) => r.url().endsWith(`/v1/campaigns/${id}/approve`));
      await approve.click();
      assert.equal((await answered).status(), 200);
      assert.equal(await card.count(), 1, 'the queue has not been read again yet');
      assert.equal(await approve.isDisabled(), true, 'the button waits for the queue to drop the card');
      await approve.click({ force: true }).catch(() => undefined);
    } finally {
      approvals.stop();
      await reads.release();
    }
    await card.waitFor({ state: 'detached' });
    assert.equal(approvals.urls.length, 1);
    const got = await admin.GET('/v1/campaigns/{id}', { params: { path: { id } } });
    assert.equal(got.data?.status, 'active');
  });

  test('the global emergency stop needs a reason and pauses every active campaign', async () => {
    const other = await launchCampaign(admin, 'E2E other campaign', 'E2EOTHER');
    await page.getByRole('button', { name: 'Emergency stop' }).click();
    const dialog = page.getByRole('dialog', { name: 'Stop every campaign?' });
    const confirm = dialog.getByRole('button', { name: 'Stop everything' });
    assert.equal(await confirm.isDisabled(), true, 'no reason, no stop');
    await dialog.getByLabel('Reason (required)').fill('e2e: drill');
    await confirm.click();
    await page
      .getByTestId('emergency-result')
      .getByText(/campaigns? paused/)
      .waitFor();
    const got = await admin.GET('/v1/campaigns/{id}', { params: { path: { id: other } } });
    assert.equal(got.data?.status, 'paused');
  });

  test('after the stop, a red envelope says its campaign is paused (grabs refused)', async () => {
    const list = await admin.GET('/v1/red-envelopes', { params: { query: { limit: 1 } } });
    const e = list.data?.data[0];
    assert.ok(e, JSON.stringify(list.error));
    assert.equal(e.campaign_status, 'paused');
    await nav(page, 'Red envelopes');
    await page.locator(`li[data-envelope-id="${e.id}"]`).getByText('campaign paused').waitFor();
  });

  test('the audit log lists entries newest first, verifies every chain and downloads a digest that verify holds the store to', async () => {
    // More than a page: each key is an entry of the platform chain.
    for (let i = 0; i < 12; i++) {
      const key = await admin.POST('/v1/api-keys', { body: { name: `audit reader ${i}`, scopes: ['read'] } });
      assert.ok(key.data, JSON.stringify(key.error));
    }
    const newest = await admin.GET('/v1/audit', { params: { query: { limit: 50 } } });
    assert.equal(newest.data?.has_more, true);
    await nav(page, 'Audit log');
    await page.locator('li[data-action="api_key.created"]').first().waitFor();
    const stop = page.locator('li[data-action="platform.emergency_stop"]');
    await stop.waitFor();
    assert.match((await stop.textContent()) ?? '', /platform\.emergency_stop · platform · key_/);
    const seqs = await page
      .locator('.audit-list li')
      .evaluateAll((lis) => lis.map((li) => Number(li.getAttribute('data-seq'))));
    assert.deepEqual(
      seqs,
      newest.data?.data.map((e) => e.seq),
      'the first page, newest first',
    );
    // A batch reads as its changes, counted.
    assert.match(
      (await page.locator('li[data-action="batch"]').first().textContent()) ?? '',
      /\d+ changes?: (redemption|coupon|red_envelope)\./,
    );
    await page.getByRole('button', { name: 'Older entries' }).click();
    await page.locator(`.audit-list li[data-seq="${(seqs[49] ?? 0) - 1}"]`).waitFor();

    await page.getByRole('button', { name: 'Verify every chain' }).click();
    await page
      .getByTestId('audit-status')
      .getByText(/^Every chain verifies: \d+ chains, [\d,]+ entries\.$/)
      .waitFor();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download digest' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^vouchsafe-audit-digest-\d{4}-\d{2}-\d{2}T[\d-]+Z\.json$/);
    const digest = JSON.parse(readFileSync(await download.path(), 'utf8')) as AuditDigest;
    assert.equal(digestDefect(digest), null);
    assert.equal(await page.getByTestId('audit-digest').textContent(), digest.digest);
    assert.ok(digest.heads.some((h) => h.chain === campaign_id && h.chain_seq > 1));
    assert.ok(digest.heads.some((h) => h.chain === 'platform'));
    const held = await store.readSnapshot(() => verifyStore(store, undefined, { digest }));
    assert.deepEqual(held.violations, []);
  });

  test('developers: a key is shown once, works, rotates and is revoked; a webhook is made, delivers signed, and is deleted', async () => {
    await nav(page, 'Developers');
    const status = async (key: string) =>
      (await createVouchsafeClient(server.url, key).GET('/v1/campaigns', { params: { query: { limit: 1 } } })).response
        .status;
    const keyForm = page.getByRole('form', { name: 'Create an API key' });
    await keyForm.getByLabel('Key name').fill('console till');
    await keyForm.getByLabel(/^read:/).uncheck();
    await keyForm.getByLabel(/^checkout:/).check();
    await keyForm.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByRole('region', { name: 'API keys' }).getByTestId('one-time-secret');
    await shown.waitFor();
    const first = (await shown.textContent()) ?? '';
    assert.match(first, /^vs_[a-z2-7]{52}$/);
    // A checkout key may not list campaigns: 403, not 401, so the key itself is good.
    assert.equal(await status(first), 403);
    const listed = await admin.GET('/v1/api-keys', { params: { query: { limit: 100 } } });
    const made = listed.data?.data.find((k) => k.name === 'console till');
    assert.deepEqual(made?.scopes, ['checkout']);
    const row = page.locator(`li[data-key-id="${made?.id}"]`);
    await page.locator(`li[data-key-id="${made?.id}"][data-revoked="false"]`).waitFor();
    await page.getByRole('button', { name: 'I have stored it' }).click();
    assert.equal(await shown.count(), 0, 'the secret is gone once dismissed');

    await row.getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('button', { name: 'Rotate key' }).click();
    await page.locator(`li[data-key-id="${made?.id}"][data-revoked="true"]`).waitFor();
    const second =
      (await page.getByRole('region', { name: 'API keys' }).getByTestId('one-time-secret').textContent()) ?? '';
    assert.match(second, /^vs_[a-z2-7]{52}$/);
    assert.notEqual(second, first);
    assert.equal(await status(first), 401, 'the rotated key stops at once');
    assert.equal(await status(second), 403);
    const after = await admin.GET('/v1/api-keys', { params: { query: { limit: 100 } } });
    const fresh = after.data?.data.find((k) => k.name === 'console till' && k.revoked_at === null);
    assert.ok(fresh, 'the new key has the same name');
    assert.deepEqual(fresh.scopes, ['checkout']);
    await page.locator(`li[data-key-id="${fresh.id}"]`).getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await page.locator(`li[data-key-id="${fresh.id}"][data-revoked="true"]`).waitFor();
    assert.equal(await status(second), 401);

    const received: Array<{ body: string; signature: string }> = [];
    const receiver: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => {
        body += d.toString();
      });
      req.on('end', () => {
        received.push({ body, signature: String(req.headers['vouchsafe-signature']) });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const address = receiver.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hook`;
      const hookForm = page.getByRole('form', { name: 'Create a webhook' });
      await hookForm.getByLabel('Endpoint URL').fill(url);
      await hookForm.getByLabel(/^campaign\.activated:/).check();
      await hookForm.getByRole('button', { name: 'Create webhook' }).click();
      const secret =
        (await page.getByRole('region', { name: 'Webhooks' }).getByTestId('one-time-secret').textContent()) ?? '';
      assert.ok(secret.length >= 32, secret);
      const hooks = await admin.GET('/v1/webhooks', { params: { query: { limit: 100 } } });
      const hook = hooks.data?.data.find((w) => w.url === url);
      assert.deepEqual(hook?.events, ['campaign.activated']);
      const item = page.locator(`li[data-webhook-id="${hook?.id}"]`);
      await item.waitFor();
      const activated = await launchCampaign(admin, 'E2E webhook campaign', 'E2EHOOK');
      await item.getByRole('button', { name: 'Deliveries' }).click();
      await item.locator('li[data-status="delivered"]').getByText('campaign.activated').waitFor();
      const got = received.map((r) => ({
        ...r,
        parsed: JSON.parse(r.body) as { type: string; data: { campaign_id: string } },
      }));
      const delivery = got.find(
        (r) => r.parsed.type === 'campaign.activated' && r.parsed.data.campaign_id === activated,
      );
      assert.ok(delivery, JSON.stringify(received));
      assert.ok(verifySignature(delivery.signature, secret, delivery.body, Math.floor(Date.now() / 1000)));

      await item.getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('button', { name: 'Delete webhook' }).click();
      await page.getByText('No webhooks.').waitFor();
      assert.deepEqual((await admin.GET('/v1/webhooks', { params: { query: { limit: 100 } } })).data?.data, []);
    } finally {
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });

  test('rotating the key the console is signed in with switches the console to the new key, shown once', async () => {
    await page.goto(`${server.url}/console/developers`);
    const me = await admin.GET('/v1/api-keys/current');
    assert.ok(me.data, JSON.stringify(me.error));
    const row = page.locator(`li[data-key-id="${me.data.id}"]`);
    await row.getByText('signed in with this key').waitFor();
    await row.getByRole('button', { name: 'Rotate' }).click();
    await page
      .getByText('It is the key this console is signed in with: the console switches to the new one.')
      .waitFor();
    await page.getByRole('button', { name: 'Rotate key' }).click();
    const shown = page.getByRole('region', { name: 'API keys' }).getByTestId('one-time-secret');
    await shown.waitFor();
    const fresh = (await shown.textContent()) ?? '';
    assert.match(fresh, /^vs_[a-z2-7]{52}$/);
    await page.locator(`li[data-key-id="${me.data.id}"][data-revoked="true"]`).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('vouchsafe.api_key')), fresh);
    assert.equal((await admin.GET('/v1/api-keys/current')).response.status, 401, 'the old key is refused');
    admin = createVouchsafeClient(server.url, fresh);
    const now = await admin.GET('/v1/api-keys/current');
    assert.equal(now.data?.name, me.data.name);
    // Still signed in: the list shows the new key as this console's.
    await page.locator(`li[data-key-id="${now.data?.id}"]`).getByText('signed in with this key').waitFor();
    await nav(page, 'Campaigns');
  });

  test('no horizontal overflow at 1280x800 and at a phone width (390x844)', async () => {
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      await page.setViewportSize(viewport);
      for (const path of [
        '',
        '/campaigns/new',
        `/campaigns/${campaign_id}`,
        '/approvals',
        '/incidents',
        '/red-envelopes',
        '/audit',
        '/developers',
      ]) {
        await page.goto(`${server.url}/console${path}`);
        await page.locator('main h1').waitFor();
        await page.waitForFunction(() => document.querySelector('[aria-busy="true"]') === null);
        assert.equal(await horizontalOverflowPx(page), 0, `${viewport.width}px wide: /console${path} scrolls sideways`);
      }
    }
  });

  test('no errors in the browser console', () => {
    // The create form's dry run may answer 400 for a half-filled form (a date set before the other,
    // when the test's typing is slower than its 250 ms debounce): that is the dry run's verdict,
    // shown in the form, which Chromium also logs as a failed load. Anything else is an error.
    const dryRunVerdict = (e: string) =>
      e.includes('status of 400') && e.includes('/v1/campaigns/lint') && e.startsWith('console: ');
    assert.deepEqual(
      errors.filter((e) => !dryRunVerdict(e)),
      [],
    );
  });

  // Last: it revokes the key the console (and this test's admin client) signs in with.
  test('a request refused with the key the console is signed in with (revoked elsewhere) signs it out', async () => {
    const me = await admin.GET('/v1/api-keys/current');
    assert.ok(me.data, JSON.stringify(me.error));
    const revoked = await admin.POST('/v1/api-keys/{id}/revoke', { params: { path: { id: me.data.id } } });
    assert.equal(revoked.response.status, 200);
    await page.goto(`${server.url}/console/developers`);
    // Exact: the developers page, shown until the refusal comes back, has regions named 'API keys'.
    await page.getByLabel('API key', { exact: true }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('vouchsafe.api_key')), null);
  });
});

if (unavailable) test.skip(`admin console browser tests: ${unavailable}`);

async function redeem(client: VouchsafeClient, user_id: string, merchant_id: string, confirm = true): Promise<number> {
  const res = await client.POST('/v1/redemptions', {
    body: {
      user_id,
      code: shared_code,
      confirm,
      order: { id: `o_${user_id}`, merchant_id, amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' },
    },
  });
  return res.response.status;
}

/** Follows a link of the console's main navigation. */
async function nav(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name }).waitFor();
}

/** Creates and submits a shared-code campaign (one that lints clean goes live at once); returns its id. */
function launchCampaign(
  admin: VouchsafeClient,
  name: string,
  code: string,
  over: { per_user_limit?: number | null } = {},
  status: 'active' | 'pending_approval' = 'active',
): Promise<string> {
  return createCampaign(admin, { name, code_mode: 'shared_code', code, ...over }, status);
}
