import type { Static } from '@sinclair/typebox';
import { availableMinor, type Campaign } from '../domain/campaign.ts';
import type { Coupon } from '../domain/coupon.ts';
import { maxExposureMinor } from '../domain/exposure.ts';
import type { Redemption } from '../domain/redemption.ts';
import type { Page } from '../store/port.ts';
import type { CampaignView } from './campaign-schemas.ts';
import type { CouponView, RedemptionView } from './redemption-schemas.ts';
import { formatNullableTimestamp, formatTimestamp } from './time.ts';

export type CampaignWire = Static<typeof CampaignView>;
export type CouponWire = Static<typeof CouponView>;
export type RedemptionWire = Static<typeof RedemptionView>;

/** The whole campaign as API.md shows it: spec, status, lint, exposure, budget and counts. */
export function campaignView(c: Campaign): CampaignWire {
  return {
    id: c.id,
    name: c.name,
    status: c.status,
    status_reason: c.status_reason,
    needs_approval: c.needs_approval ?? false,
    currency: c.currency,
    discount: c.discount,
    min_spend_minor: c.min_spend_minor,
    product_kinds: c.product_kinds,
    merchant_ids: c.merchant_ids,
    audience: c.audience,
    starts_at: formatTimestamp(c.starts_at_ms),
    ends_at: formatTimestamp(c.ends_at_ms),
    coupon_ttl_s: c.coupon_ttl_s,
    budget_minor: c.budget_minor,
    max_redemptions: c.max_redemptions,
    per_user_limit: c.per_user_limit,
    per_merchant_limit: c.per_merchant_limit,
    code_mode: c.code_mode,
    code: c.code,
    auto_pause: c.auto_pause,
    velocity: c.velocity,
    lint: c.lint,
    max_exposure_minor: maxExposureMinor(c),
    budget: {
      total_minor: c.budget_minor,
      reserved_minor: c.reserved_minor,
      spent_minor: c.spent_minor,
      available_minor: availableMinor(c),
    },
    counts: { claimed: c.claimed_count, redeemed: c.confirmed_count + c.frozen_count },
    created_at: formatTimestamp(c.created_at_ms),
    updated_at: formatTimestamp(c.updated_at_ms),
  };
}

/** A coupon as stored when it was answered (a replay shows the same status). */
export function couponView(c: Coupon): CouponWire {
  return {
    id: c.id,
    campaign_id: c.campaign_id,
    user_id: c.user_id,
    code: c.code,
    status: c.status,
    expires_at: formatTimestamp(c.expires_at_ms),
  };
}

export function redemptionView(r: Redemption): RedemptionWire {
  return {
    id: r.id,
    status: r.status,
    discount_minor: r.discount_minor,
    coupon_id: r.coupon_id,
    campaign_id: r.campaign_id,
    user_id: r.user_id,
    merchant_id: r.merchant_id,
    order: {
      id: r.order_id,
      merchant_id: r.merchant_id,
      amount_minor: r.order_amount_minor,
      currency: r.currency,
      product_kind: r.product_kind,
    },
    hold_expires_at: formatNullableTimestamp(r.hold_expires_at_ms),
    created_at: formatTimestamp(r.created_at_ms),
    updated_at: formatTimestamp(r.updated_at_ms),
  };
}

export function pageView<T, W>(page: Page<T>, view: (item: T) => W): { data: W[]; has_more: boolean } {
  return { data: page.data.map(view), has_more: page.has_more };
}
