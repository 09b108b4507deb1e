import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { createVouchsafeClient, type paths, type VouchsafeClient } from '../../client/index.ts';
import { ensureConsoleBuilt } from '../../scripts/build-console.ts';
import { Engine } from '../../src/engine/engine.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

/** An embedded server for a browser test of the console: a new data dir, the console built, one admin key. */
export interface ConsoleServer {
  dir: string;
  store: SqliteStore;
  engine: Engine;
  server: RunningServer;
  /** The bootstrap admin key's client. */
  admin: VouchsafeClient;
  /** Checks every money invariant and audit chain over what the test did, closes the server, removes the data dir. */
  close(): Promise<void>;
}

export async function startConsoleServer(
  admin_key: string,
  opts: { events?: ServerOptions['events']; dir_prefix?: string } = {},
): Promise<ConsoleServer> {
  assert.ok(await ensureConsoleBuilt(), 'the console must build');
  const dir = mkdtempSync(join(tmpdir(), opts.dir_prefix ?? 'vs-console-'));
  const store = new SqliteStore({ path: join(dir, 'vouchsafe.db') });
  const engine = await Engine.open(store);
  const server = await startServer({
    engine,
    port: 0,
    host: '127.0.0.1',
    handle_signals: false,
    bootstrap: { data_dir: dir, admin_key, print: () => {} },
    ...(opts.events ? { events: opts.events } : {}),
  });
  return {
    dir,
    store,
    engine,
    server,
    admin: createVouchsafeClient(server.url, admin_key),
    close: async () => {
      try {
        const report = await verifyStore(store);
        await server.close();
        assert.deepEqual(report.violations, []);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Signs the console at `url` in with `key` as a user does (the sign-in field, the key, Enter); the caller waits for what follows. */
export async function signIn(page: Page, url: string, key: string): Promise<void> {
  await page.goto(`${url}/console`);
  await page.getByLabel('API key', { exact: true }).fill(key);
  await page.keyboard.press('Enter');
}

/**
 * A second page of the browser, signed in (signIn) with `key` and handed to `use`, then closed:
 * another operator's console beside the test's own page.
 */
export async function withPageSignedIn(
  context: BrowserContext,
  url: string,
  key: string,
  timeout_ms: number,
  use: (page: Page) => Promise<void>,
): Promise<void> {
  const page = await context.newPage();
  try {
    page.setDefaultTimeout(timeout_ms);
    await signIn(page, url, key);
    await use(page);
  } finally {
    await page.close();
  }
}

type CampaignCreate = paths['/v1/campaigns']['post']['requestBody']['content']['application/json'];

/**
 * Creates a campaign through the API (a claim campaign for merchandise, 1.00 CNY off orders of 10.00,
 * live from an hour ago for a week, budget 1,000.00, one per user: it lints clean, unless `over` says
 * otherwise) and, unless `submit` is null, submits it and expects that status; returns its id.
 */
export async function createCampaign(
  admin: VouchsafeClient,
  over: Partial<CampaignCreate> & { name: string },
  submit: 'active' | 'pending_approval' | null = 'active',
): Promise<string> {
  const now_ms = Date.now();
  const created = await admin.POST('/v1/campaigns', {
    body: {
      currency: 'CNY',
      discount: { type: 'fixed', amount_minor: 100 },
      min_spend_minor: 1000,
      product_kinds: ['merchandise'],
      audience: { type: 'public' },
      starts_at: new Date(now_ms - 3_600_000).toISOString(),
      ends_at: new Date(now_ms + 7 * 86_400_000).toISOString(),
      budget_minor: 100_000,
      per_user_limit: 1,
      code_mode: 'claim',
      ...over,
    },
  });
  assert.ok(created.data, JSON.stringify(created.error));
  if (submit !== null) {
    const submitted = await admin.POST('/v1/campaigns/{id}/submit', {
      params: { path: { id: created.data.id } },
      body: {},
    });
    assert.equal(submitted.data?.status, submit, JSON.stringify(submitted.error ?? submitted.data?.lint));
  }
  return created.data.id;
}
