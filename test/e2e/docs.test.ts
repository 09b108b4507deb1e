import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/engine.ts';
import { type RunningServer, startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { type Browser, browserUnavailable, collectErrors, launchBrowser } from '../support/browser.ts';

const admin_key = 'vs_test_admin_key_for_docs_e2e_000001';

describe('Swagger UI at /docs in Chromium', { skip: browserUnavailable() ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-docs-'));
  let server: RunningServer;
  let browser: Browser;

  before(async () => {
    const engine = await Engine.open(new SqliteStore({ path: join(dir, 'vouchsafe.db') }));
    server = await startServer({
      engine,
      port: 0,
      host: '127.0.0.1',
      handle_signals: false,
      bootstrap: { data_dir: dir, admin_key, print: () => {} },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every page of /docs carries a policy that keeps scripts and framing to this origin', async () => {
    for (const path of ['/docs', '/docs/static/index.html', '/docs/static/swagger-initializer.js']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 200, path);
      const policy = res.headers.get('content-security-policy') ?? '';
      assert.match(policy, /script-src 'self'(;|$)/, `${path}: ${policy}`);
      assert.match(policy, /frame-ancestors 'none'/, `${path}: ${policy}`);
      assert.doesNotMatch(policy, /unsafe-eval|https:|\*/, `${path}: ${policy}`);
      assert.match(policy, /default-src 'self'/, `${path}: ${policy}`);
    }
  });

  test('under that policy the page still renders every operation and reports no violation', async () => {
    const page = await browser.context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${server.url}/docs`);
    // The operations come from /openapi.json, fetched and rendered by Swagger UI's own scripts.
    await page
      .locator('.opblock-summary-path', { hasText: '/v1/redemptions/{id}/reverse' })
      .waitFor({ timeout: 60_000 });
    assert.ok((await page.locator('.opblock').count()) > 20, 'the operations are listed');
    assert.deepEqual(errors, []);
  });
});
