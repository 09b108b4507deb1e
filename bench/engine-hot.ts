import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignSpec } from '../src/domain/campaign.ts';
import { Engine } from '../src/engine/engine.ts';
import { verifyStore } from '../src/engine/verify.ts';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { fmt, ratio, type Section } from './report.ts';

const hour_ms = 3_600_000;

export function hotSpec(now_ms: number, over: Partial<CampaignSpec> = {}): CampaignSpec {
  return {
    name: 'hot',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: 100 },
    min_spend_minor: 1000,
    product_kinds: ['merchandise'],
    merchant_ids: null,
    audience: { type: 'public' },
    starts_at_ms: now_ms - hour_ms,
    ends_at_ms: now_ms + 24 * hour_ms,
    coupon_ttl_s: null,
    budget_minor: Number.MAX_SAFE_INTEGER / 2,
    max_redemptions: null,
    per_user_limit: null,
    per_merchant_limit: null,
    code_mode: 'shared_code',
    code: 'HOTDEAL',
    auto_pause: false,
    velocity: null,
    ...over,
  };
}

export interface HotResult {
  redemptions: number;
  seconds: number;
  per_s: number;
  verify_ok: boolean;
}

/**
 * Confirmed redemptions per second on one hot campaign, `concurrency` in flight at a time. Order ids
 * are `o0`, `o1`, ... (their counters land side by side) or, with `random_orders`, UUIDs as many
 * checkouts send, whose counters land all over the usage index.
 */
export async function runHot(
  batch_commands_max: number,
  total: number,
  concurrency: number,
  events = true,
  random_orders = false,
): Promise<HotResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-bench-'));
  const store = new SqliteStore({ path: join(dir, 'bench.db'), synchronous: 'FULL', background_checkpoint: true });
  const engine = await Engine.open(store, {
    batch_commands_max,
    approval_threshold_minor: Number.MAX_SAFE_INTEGER,
    wantsEvent: () => events,
  });
  const c = await engine.createCampaign(hotSpec(Date.now()), { actor: 'maker' });
  const s = await engine.campaignAction(c.id, 'submit', { actor: 'maker' });
  if (s.status !== 'active') await engine.campaignAction(c.id, 'approve', { actor: 'checker' });
  const coupon = await engine.codes.resolve({ code: 'HOTDEAL' });
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < total; i = next++) {
      await engine.redeem(
        {
          user_id: `u${i % 50_000}`,
          coupon_id: coupon.id,
          order: {
            id: random_orders ? randomUUID() : `o${i}`,
            merchant_id: `m${i % 500}`,
            amount_minor: 5000,
            currency: 'CNY',
            product_kind: 'merchandise',
          },
          confirm: true,
        },
        { actor: 'bench' },
      );
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const report = await verifyStore(store);
  await engine.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  return { redemptions: total, seconds, per_s: total / seconds, verify_ok: report.ok };
}

/** Group commit against one transaction per redemption, both durable (synchronous=FULL). */
export async function engineSection(): Promise<Section> {
  const total = Number(process.env.BENCH_HOT_TOTAL ?? 200_000);
  // Warm-up, not measured: a server runs for hours, so the figure is the JIT-compiled steady state.
  await runHot(1024, 50_000, 4096, false);
  const quiet = await runHot(1024, total, 4096, false);
  const loud = await runHot(1024, total, 4096, true);
  const scattered = await runHot(1024, total, 4096, false, true);
  const naive = await runHot(1, 3000, 64, true);
  return {
    title: 'Embedded engine: one hot campaign (SQLite, WAL, synchronous=FULL)',
    method: `${fmt(total)} confirmed redemptions of one shared-code campaign, 4,096 in flight, in-process (no HTTP), after a 50,000-redemption warm-up in the same process. Baseline: the same engine with batches of one command, i.e. one durable transaction per redemption. Every run ends with \`verify\` over the store.`,
    rows: [
      {
        what: 'group commit, no event subscribers (audit chain on)',
        figure: `${fmt(quiet.per_s)} /s`,
        baseline: `${fmt(naive.per_s)} /s`,
        ratio: ratio(quiet.per_s, naive.per_s),
        target: '>= 100,000 /s and >= 25x',
      },
      {
        what: 'group commit, outbox event per redemption (webhooks subscribed)',
        figure: `${fmt(loud.per_s)} /s`,
        baseline: `${fmt(naive.per_s)} /s`,
        ratio: ratio(loud.per_s, naive.per_s),
      },
      {
        what: 'group commit, no event subscribers, random (UUID) order ids',
        figure: `${fmt(scattered.per_s)} /s`,
        baseline: `${fmt(naive.per_s)} /s`,
        ratio: ratio(scattered.per_s, naive.per_s),
      },
    ],
    notes: [
      `verify after each run: ${[quiet, loud, scattered, naive].every((r) => r.verify_ok) ? 'all invariants hold' : 'VIOLATIONS FOUND'}`,
      "Order ids are o0, o1, ... except in the UUID row. One discount per order keeps a usage counter per order (a key by order id): sequential ids put a batch's new counters side by side in the usage index, random ones put each on its own page, and every page a batch dirties is written to the WAL at its commit.",
    ],
  };
}
