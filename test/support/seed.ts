import type { CampaignSpec } from '../../src/domain/campaign.ts';
import type { Engine } from '../../src/engine/engine.ts';

/** A shared-code campaign with no per-user or count limits: many redemptions, each a real engine command. */
export function bulkSpec(now_ms: number, code: string): CampaignSpec {
  return {
    name: `bulk ${code}`,
    currency: 'CNY',
    discount: { type: 'percent', percent_bp: 1000, max_discount_minor: 5000 },
    min_spend_minor: 1000,
    product_kinds: ['merchandise', 'virtual'],
    merchant_ids: null,
    audience: { type: 'public' },
    starts_at_ms: now_ms - 3_600_000,
    ends_at_ms: now_ms + 30 * 24 * 3_600_000,
    coupon_ttl_s: null,
    budget_minor: Number.MAX_SAFE_INTEGER / 4,
    max_redemptions: null,
    per_user_limit: null,
    per_merchant_limit: null,
    code_mode: 'shared_code',
    code,
    auto_pause: false,
    velocity: null,
  };
}

export async function bulkCampaign(engine: Engine, code: string) {
  const c = await engine.createCampaign(bulkSpec(engine.now(), code), { actor: 'key_maker' });
  const s = await engine.campaignAction(c.id, 'submit', { actor: 'key_maker' });
  if (s.status !== 'active') await engine.campaignAction(c.id, 'approve', { actor: 'key_checker' });
  return c;
}

/**
 * `count` redemptions through engine.redeem, `wave` in flight at a time (group commit makes
 * them a few large batches); every tenth one stays a hold, the rest confirm at once. Order
 * amounts vary, so discounts (10%, capped) do too and sums are exact only if every row counts.
 */
export async function seedRedemptions(
  engine: Engine,
  code: string,
  count: number,
  opts: { merchants?: number; wave?: number; offset?: number } = {},
): Promise<void> {
  const merchants = opts.merchants ?? 100;
  const wave = opts.wave ?? 4096;
  const offset = opts.offset ?? 0;
  for (let start = 0; start < count; start += wave) {
    const n = Math.min(wave, count - start);
    await Promise.all(
      Array.from({ length: n }, (_, k) => {
        const i = offset + start + k;
        const order = {
          id: `${code}-${i}`,
          merchant_id: `m${(i * 7) % merchants}`,
          amount_minor: 5_000 + ((i * 7919) % 60_000),
          currency: 'CNY',
          product_kind: i % 3 === 0 ? 'virtual' : 'merchandise',
        };
        return engine.redeem({ user_id: `u${i}`, code, order, confirm: i % 10 !== 0 }, { actor: 'key_seed' });
      }),
    );
  }
}
