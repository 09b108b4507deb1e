// Takes docs/console.png: the campaign page of a campaign under about 40 s of simulated checkout traffic.
// Usage: npm run console:screenshot [-- out.png] [--phone]   (needs /usr/bin/chromium)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createVouchsafeClient, type VouchsafeClient } from '../client/index.ts';
import { Engine } from '../src/engine/engine.ts';
import { startServer } from '../src/http/server.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { launchBrowser } from '../test/support/browser.ts';
import { ensureConsoleBuilt } from './build-console.ts';

const admin_key = 'vs_screenshot_admin_key_000000000001';
const out =
  process.argv.slice(2).find((a) => !a.startsWith('--')) ??
  fileURLToPath(new URL('../docs/console.png', import.meta.url));
const phone = process.argv.includes('--phone');
const traffic_s = 40;
const merchants = ['shop-hangzhou', 'shop-beijing', 'shop-shanghai', 'shop-shenzhen'];

async function launch(admin: VouchsafeClient): Promise<string> {
  const now_ms = Date.now();
  const created = await admin.POST('/v1/campaigns', {
    body: {
      name: 'Spring festival: 15 CNY off 100',
      currency: 'CNY',
      discount: { type: 'fixed', amount_minor: 1500 },
      min_spend_minor: 10_000,
      product_kinds: ['merchandise', 'food'],
      audience: { type: 'public' },
      starts_at: new Date(now_ms - 3_600_000).toISOString(),
      ends_at: new Date(now_ms + 14 * 86_400_000).toISOString(),
      budget_minor: 600_000,
      max_redemptions: 2000,
      per_user_limit: 1,
      code_mode: 'shared_code',
      code: 'SPRING15',
      auto_pause: false,
    },
  });
  if (!created.data) throw new Error(JSON.stringify(created.error));
  const id = created.data.id;
  const submitted = await admin.POST('/v1/campaigns/{id}/submit', { params: { path: { id } }, body: {} });
  if (submitted.data?.status !== 'active') throw new Error(JSON.stringify(submitted.error ?? submitted.data));
  return id;
}

/** A wave of ordinary traffic, then one merchant surging: what the chart is for. */
async function traffic(checkout: VouchsafeClient): Promise<void> {
  let user = 0;
  for (let t = 0; t < traffic_s; t++) {
    const surge = t >= traffic_s - 12;
    const n = Math.round(5 + 3 * Math.sin(t / 4)) + (surge ? 14 : 0);
    await Promise.all(
      Array.from({ length: n }, (_, i) => {
        user++;
        const merchant_id =
          surge && i % 3 !== 0 ? 'shop-suspicious' : (merchants[(user * 7) % merchants.length] ?? 'shop');
        return checkout.POST('/v1/redemptions', {
          body: {
            user_id: `user-${user}`,
            code: 'SPRING15',
            confirm: user % 5 !== 0,
            order: {
              id: `order-${user}`,
              merchant_id,
              amount_minor: 12_800,
              currency: 'CNY',
              product_kind: 'merchandise',
            },
          },
        });
      }),
    );
    await new Promise((r) => setTimeout(r, 1000));
  }
}

if (!(await ensureConsoleBuilt())) throw new Error('the console did not build');
const dir = mkdtempSync(join(tmpdir(), 'vs-shot-'));
const server = await startServer({
  engine: await Engine.open(new SqliteStore({ path: join(dir, 'vouchsafe.db') })),
  port: 0,
  host: '127.0.0.1',
  handle_signals: false,
  bootstrap: { data_dir: dir, admin_key, print: () => {} },
});
const browser = await launchBrowser();
try {
  const admin = createVouchsafeClient(server.url, admin_key);
  const key = await admin.POST('/v1/api-keys', { body: { name: 'checkout', scopes: ['checkout'] } });
  if (!key.data) throw new Error(JSON.stringify(key.error));
  const id = await launch(admin);
  const page = await browser.context.newPage();
  if (phone) await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${server.url}/console`);
  await page.getByLabel('API key').fill(admin_key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Campaigns' }).waitFor();
  await page.goto(`${server.url}/console/campaigns/${id}`);
  await page.getByTestId('live-chart').waitFor();
  // The picture is taken while the surge is still on, once the merchant table has caught up with it.
  const done = traffic(createVouchsafeClient(server.url, key.data.key));
  await new Promise((r) => setTimeout(r, (traffic_s - 1) * 1000));
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out, fullPage: true });
  await done;
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
