import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CampaignSpec } from '../../domain/campaign.ts';
import { Rejection } from '../../domain/errors.ts';
import { ManualClock } from '../../engine/clock.ts';
import { Detection } from '../../engine/detection/detection.ts';
import { Engine } from '../../engine/engine.ts';
import { Incidents } from '../../engine/incidents/incidents.ts';
import { verifyStore } from '../../engine/verify.ts';
import { SqliteStore } from '../../store/sqlite/sqlite-store.ts';

const t0 = Date.parse('2019-01-20T00:00:00Z');
const day_ms = 86_400_000;
const coupon_minor = 10_000; // 100 yuan

export interface RunResult {
  loss_minor: number;
  redemptions: number;
  refused: Record<string, number>;
  detected_after_redemptions: number | null;
  detected_after_ms: number | null;
  frozen_minor: number;
  reversed_minor: number;
  /** Attack loss (minor) after each simulated second, for the report's chart. */
  loss_over_time: number[];
  invariants_ok: boolean;
}

export interface ScenarioOptions {
  attack_redemptions: number;
  attack_per_s: number;
  /** Share of the attack at the one shop (2019: 430,000 transactions at one shop). */
  one_shop_share: number;
  onProgress?: (done: number, total: number) => void;
}

/** The leaked coupon: 100 yuan off, no minimum, phone top-ups, for a few guests, already over. */
function leakedSpec(mode: 'naive' | 'as_2019' | 'guarded'): CampaignSpec {
  const guests = Array.from({ length: 50 }, (_, i) => `guest${i}`);
  const base: CampaignSpec = {
    name: 'TV show guests',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: coupon_minor },
    min_spend_minor: 0,
    product_kinds: ['merchandise', 'phone_top_up', 'virtual'],
    merchant_ids: null,
    audience: { type: 'allowlist', user_ids: guests },
    starts_at_ms: t0 - 30 * day_ms,
    ends_at_ms: t0 - day_ms,
    coupon_ttl_s: null,
    budget_minor: guests.length * coupon_minor,
    max_redemptions: guests.length,
    per_user_limit: 1,
    per_merchant_limit: null,
    code_mode: 'shared_code',
    code: 'GUESTS2019',
    auto_pause: true,
    velocity: null,
  };
  if (mode === 'as_2019') return base;
  // What the 2019 system effectively enforced: no expiry or audience recheck, no cap, no limits.
  const open: CampaignSpec = {
    ...base,
    audience: { type: 'public' },
    ends_at_ms: t0 + 365 * day_ms,
    max_redemptions: null,
    per_user_limit: null,
  };
  if (mode === 'naive') return { ...open, budget_minor: Number.MAX_SAFE_INTEGER / 4, auto_pause: false };
  // Worst case for Vouchsafe: the same holes configured by mistake and approved by a second key;
  // the budget is still required (here generous: 10M yuan) and detection is on.
  return { ...open, budget_minor: 1_000_000_000 };
}

/** Runs one configuration of the replay against a real engine on a fresh SQLite store. */
export async function runPinduoduo(mode: 'naive' | 'as_2019' | 'guarded', o: ScenarioOptions): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'vs-sim-'));
  const store = new SqliteStore({ path: join(dir, 'sim.db'), synchronous: 'OFF' });
  // The campaign was set up weeks before the leak, while its window was still open.
  const clock = new ManualClock(t0 - 20 * day_ms);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: 1_000_000, wantsEvent: () => false });
  const detection = mode === 'naive' ? null : new Detection(engine, { timer: false }).start();
  try {
    const c = await engine.createCampaign(leakedSpec(mode), { actor: 'key_marketing' });
    const submitted = await engine.campaignAction(c.id, 'submit', { actor: 'key_marketing' });
    if (submitted.status === 'pending_approval') await engine.campaignAction(c.id, 'approve', { actor: 'key_manager' });
    clock.set(t0);
    const refused: Record<string, number> = {};
    let attack_ok = 0;
    let attack_minor = 0;
    let seq = 0;
    let detected_after: number | null = null;
    let detected_ms: number | null = null;
    const loss_over_time: number[] = [];
    const redeem = async (user: string, merchant: string, kind: string, attack: boolean) => {
      const n = seq++;
      try {
        const r = await engine.redeem(
          {
            user_id: user,
            code: 'GUESTS2019',
            order: {
              id: `o${n}`,
              merchant_id: merchant,
              amount_minor: 10_000 + (n % 5) * 100,
              currency: 'CNY',
              product_kind: kind,
            },
            confirm: true,
          },
          { actor: 'key_checkout' },
        );
        if (attack) {
          attack_ok++;
          attack_minor += r.discount_minor;
        }
      } catch (e) {
        if (!(e instanceof Rejection)) throw e;
        refused[e.code] = (refused[e.code] ?? 0) + 1;
      }
    };
    // Ordinary traffic first: guests and their friends, a few a second over many shops.
    for (let s = 0; s < 120; s++) {
      await Promise.all(
        Array.from({ length: 3 }, (_, i) =>
          redeem(`guest${(s * 3 + i) % 50}`, `shop${(s + i) % 40}`, 'merchandise', false),
        ),
      );
      clock.advance(1000);
      await detection?.tickNow();
    }
    // The leak: scripts redeem at scale, mostly phone top-ups, most at one shop.
    const attack_start_ms = clock.now();
    let sent = 0;
    while (sent < o.attack_redemptions) {
      const n = Math.min(o.attack_per_s, o.attack_redemptions - sent);
      await Promise.all(
        Array.from({ length: n }, (_, i) => {
          const k = sent + i;
          const oneShop = k % 1000 < o.one_shop_share * 1000;
          return redeem(
            `bot${k}`,
            oneShop ? 'shop_leak' : `shop${k % 40}`,
            k % 10 < 8 ? 'phone_top_up' : 'virtual',
            true,
          );
        }),
      );
      sent += n;
      clock.advance(1000);
      await detection?.tickNow();
      await detection?.settled();
      loss_over_time.push(attack_minor);
      if (detected_after === null && (await engine.getCampaign(c.id)).status === 'paused') {
        detected_after = attack_ok;
        detected_ms = clock.now() - attack_start_ms;
      }
      o.onProgress?.(sent, o.attack_redemptions);
    }
    let frozen_minor = 0;
    let reversed_minor = 0;
    if (mode === 'guarded' && detected_after !== null) {
      // On call: one incident over the attack window freezes what got through, then reverses it.
      const incidents = new Incidents(engine);
      const inc = await incidents.open(
        {
          title: 'leaked guests coupon',
          scope: { campaign_ids: [c.id], merchant_ids: null, from_ms: attack_start_ms, to_ms: clock.now() + 1 },
          actions: ['pause_campaigns', 'revoke_unredeemed', 'freeze_redemptions'],
        },
        { actor: 'key_oncall' },
      );
      frozen_minor = inc.report?.frozen_minor ?? 0;
      await incidents.resolve(inc.id, 'reverse', { actor: 'key_oncall' });
      reversed_minor = frozen_minor;
    }
    const report = await verifyStore(store);
    return {
      loss_minor: attack_minor - reversed_minor,
      redemptions: attack_ok,
      refused,
      detected_after_redemptions: detected_after,
      detected_after_ms: detected_ms,
      frozen_minor,
      reversed_minor,
      loss_over_time,
      invariants_ok: report.ok,
    };
  } finally {
    await engine.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
