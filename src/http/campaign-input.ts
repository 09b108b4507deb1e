import type { Static } from '@sinclair/typebox';
import type { Audience, CampaignSpec, Velocity } from '../domain/campaign.ts';
import type { Discount } from '../domain/discount/discount.ts';
import { Rejection } from '../domain/errors.ts';
import { isCashEquivalent, knownProductKinds } from '../domain/product-kinds.ts';
import type { CampaignCreate } from './campaign-schemas.ts';
import { productKindsOf } from './product-kind-input.ts';
import { parseTimestampMs } from './time.ts';

type CampaignInput = Static<typeof CampaignCreate>;

/** Without a list, a coupon buys every known kind except the cash-equivalent ones. */
export const defaultProductKinds: readonly string[] = knownProductKinds.filter((k) => !isCashEquivalent(k));

export function discountOf(d: CampaignInput['discount']): Discount {
  switch (d.type) {
    case 'fixed':
      return { type: 'fixed', amount_minor: d.amount_minor };
    case 'percent':
      return { type: 'percent', percent_bp: d.percent_bp, max_discount_minor: d.max_discount_minor ?? null };
    case 'tiered':
      return {
        type: 'tiered',
        tiers: d.tiers.map((t) => ({ min_spend_minor: t.min_spend_minor, amount_minor: t.amount_minor })),
      };
  }
}

export function audienceOf(a: CampaignInput['audience']): Audience {
  if (a === undefined || a.type === 'public') return { type: 'public' };
  return { type: 'allowlist', user_ids: [...new Set(a.user_ids)] };
}

export function velocityOf(v: CampaignInput['velocity']): Velocity | null {
  if (v === undefined || v === null) return null;
  return { ...v };
}

/** Rules across fields that a schema cannot say; each names the field at fault. */
function checkCrossFields(input: CampaignInput, mode: CampaignSpec['code_mode']): void {
  const code = input.code ?? null;
  if (mode === 'shared_code' && code === null) {
    throw new Rejection('invalid_request', 'a shared_code campaign needs a code', 'code');
  }
  if (mode !== 'shared_code' && code !== null) {
    throw new Rejection('invalid_request', 'code is only for shared_code campaigns', 'code');
  }
}

/** The wire's campaign (RFC 3339 times, optional fields) to the domain's spec (ms, explicit nulls). */
export function campaignSpecOf(input: CampaignInput): CampaignSpec {
  const code_mode = input.code_mode ?? 'claim';
  checkCrossFields(input, code_mode);
  return {
    name: input.name,
    currency: input.currency,
    discount: discountOf(input.discount),
    min_spend_minor: input.min_spend_minor ?? 0,
    product_kinds: input.product_kinds
      ? productKindsOf(input.product_kinds, 'product_kinds')
      : [...defaultProductKinds],
    merchant_ids: input.merchant_ids ? [...new Set(input.merchant_ids)] : null,
    audience: audienceOf(input.audience),
    starts_at_ms: parseTimestampMs(input.starts_at, 'starts_at'),
    ends_at_ms: parseTimestampMs(input.ends_at, 'ends_at'),
    coupon_ttl_s: input.coupon_ttl_s ?? null,
    budget_minor: input.budget_minor,
    max_redemptions: input.max_redemptions ?? null,
    per_user_limit: input.per_user_limit ?? null,
    per_merchant_limit: input.per_merchant_limit ?? null,
    code_mode,
    code: input.code ?? null,
    auto_pause: input.auto_pause ?? true,
    velocity: velocityOf(input.velocity),
  };
}
