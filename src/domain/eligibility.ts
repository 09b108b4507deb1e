import { availableMinor, type Campaign, liveRedemptions } from './campaign.ts';
import { type Coupon, isSingleUse } from './coupon.ts';
import { discountMinor } from './discount/discount.ts';
import { fixedDiscountMinor } from './discount/fixed.ts';
import { tieredThresholdMinor } from './discount/tiered.ts';
import { Rejection } from './errors.ts';
import { hasProductKind } from './product-kinds.ts';
import type { Order } from './redemption.ts';

/** Campaign status and validity window, checked at claim and again at every redemption. */
export function checkCampaignOpen(c: Campaign, now_ms: number): Rejection | null {
  switch (c.status) {
    case 'draft':
    case 'pending_approval':
      return new Rejection('campaign_not_active', `campaign is ${c.status}`);
    case 'paused':
      return new Rejection('campaign_paused', 'campaign is paused');
    case 'revoked':
      return new Rejection('campaign_revoked', 'campaign is revoked');
    case 'ended':
      return new Rejection('campaign_ended', 'campaign has ended');
    case 'active':
      break;
  }
  if (now_ms < c.starts_at_ms) return new Rejection('campaign_not_started', 'campaign has not started');
  if (now_ms >= c.ends_at_ms) return new Rejection('campaign_ended', 'campaign has ended');
  return null;
}

export function checkAudience(c: Campaign, user_id: string): Rejection | null {
  if (c.audience.type === 'allowlist' && !c.audience.user_ids.includes(user_id)) {
    return new Rejection('coupon_not_eligible_user', 'user is not in the campaign audience', 'user_id');
  }
  return null;
}

/** Ownership comes first: someone else's coupon tells nothing of its state (redeemed, revoked, expired). */
export function checkCoupon(coupon: Coupon, user_id: string, now_ms: number): Rejection | null {
  if (coupon.user_id !== null && coupon.user_id !== user_id) {
    return new Rejection('coupon_not_eligible_user', 'coupon belongs to another user', 'user_id');
  }
  if (coupon.status === 'revoked') return new Rejection('coupon_revoked', 'coupon is revoked');
  if (isSingleUse(coupon) && (coupon.status === 'reserved' || coupon.status === 'redeemed')) {
    return new Rejection('coupon_already_redeemed', 'coupon has already been redeemed');
  }
  if (now_ms >= coupon.expires_at_ms) return new Rejection('coupon_expired', 'coupon has expired');
  return null;
}

/** Order terms: currency, merchant scope, product kind, minimum spend. */
export function checkOrder(c: Campaign, order: Order): Rejection | null {
  if (order.currency !== c.currency) {
    return new Rejection('currency_mismatch', `campaign is in ${c.currency}`, 'order.currency');
  }
  if (c.merchant_ids !== null && !c.merchant_ids.includes(order.merchant_id)) {
    return new Rejection('merchant_not_eligible', 'merchant is not in the campaign scope', 'order.merchant_id');
  }
  if (!hasProductKind(c.product_kinds, order.product_kind)) {
    return new Rejection('product_kind_not_eligible', 'product kind is not eligible', 'order.product_kind');
  }
  const threshold_minor =
    c.discount.type === 'tiered'
      ? Math.max(c.min_spend_minor, tieredThresholdMinor(c.discount.tiers))
      : c.min_spend_minor;
  if (order.amount_minor < threshold_minor) {
    return new Rejection('min_spend_not_met', `minimum spend is ${threshold_minor}`, 'order.amount_minor');
  }
  return null;
}

/** Usage already counted against the limits, as seen inside the batch's transaction. */
export interface Usage {
  user_live: number;
  merchant_live: number;
  /** Live redemptions of this campaign for the same order (the order's merchant and id). */
  order_live: number;
}

/** Limits and budget for one more redemption of `discount_minor`. */
export function checkLimits(c: Campaign, usage: Usage, discount_minor: number): Rejection | null {
  // One discount per order and campaign: a second redemption (a retry without an Idempotency-Key,
  // concurrent requests) would take the discount again off the same order.
  if (usage.order_live > 0) {
    return new Rejection('coupon_already_redeemed', 'this order already has a redemption of this campaign', 'order.id');
  }
  if (c.max_redemptions !== null && liveRedemptions(c) >= c.max_redemptions) {
    return new Rejection('usage_limit_reached', 'campaign redemption limit reached');
  }
  if (c.per_user_limit !== null && usage.user_live >= c.per_user_limit) {
    return new Rejection('per_user_limit_reached', 'per-user limit reached', 'user_id');
  }
  if (c.per_merchant_limit !== null && usage.merchant_live >= c.per_merchant_limit) {
    return new Rejection('per_merchant_limit_reached', 'per-merchant limit reached', 'order.merchant_id');
  }
  if (discount_minor > availableMinor(c)) return new Rejection('budget_exhausted', 'campaign budget is exhausted');
  // A reversal moves spent money to reversed_minor and gives the budget back, so redeem-and-reverse
  // cycles grow reversed_minor without end. Held to reversed + spent + reserved <= 2^53 - 1 here
  // (no later step raises that sum), every counter stays an exact integer.
  if (discount_minor > Number.MAX_SAFE_INTEGER - c.reversed_minor - c.spent_minor - c.reserved_minor) {
    return new Rejection(
      'budget_exhausted',
      'campaign budget is exhausted: its reversals reached the largest amount kept',
    );
  }
  return null;
}

/** A coupon with a value of its own (a red-envelope packet) gives min(value, order); others the campaign's discount. */
export function couponDiscountMinor(c: Campaign, coupon: Coupon, order_minor: number): number {
  if (coupon.value_minor === undefined || coupon.value_minor === null) return discountMinor(c.discount, order_minor);
  return fixedDiscountMinor(order_minor, coupon.value_minor);
}

export interface RedeemCheck {
  campaign: Campaign;
  coupon: Coupon;
  user_id: string;
  order: Order;
  usage: Usage;
  now_ms: number;
}

/**
 * Every rule a redemption must pass, in the order a customer would want to hear them.
 * Pure: returns the discount or the first rejection; writes nothing.
 */
export function evaluateRedemption(x: RedeemCheck): Rejection | { discount_minor: number } {
  const refusal =
    checkCampaignOpen(x.campaign, x.now_ms) ??
    checkCoupon(x.coupon, x.user_id, x.now_ms) ??
    checkAudience(x.campaign, x.user_id) ??
    checkOrder(x.campaign, x.order);
  if (refusal) return refusal;
  const discount_minor = couponDiscountMinor(x.campaign, x.coupon, x.order.amount_minor);
  if (discount_minor === 0) {
    return new Rejection('min_spend_not_met', 'order earns no discount', 'order.amount_minor');
  }
  return checkLimits(x.campaign, x.usage, discount_minor) ?? { discount_minor };
}
