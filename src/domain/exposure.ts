import type { Campaign, CampaignSpec } from './campaign.ts';
import { largestDiscountMinor } from './discount/discount.ts';

/** The larger of two largest discounts; null (unbounded) wins. */
export function largerDiscountMinor(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

/**
 * The most a campaign can ever cost: its budget, or less when max_redemptions times the largest
 * possible discount is smaller. Redemptions made before the discount changed keep their amounts,
 * so the largest possible discount counts the earlier setting's while they may be live.
 */
export function maxExposureMinor(
  spec: Pick<CampaignSpec, 'budget_minor' | 'max_redemptions' | 'discount'> &
    Pick<Campaign, 'prior_discount_max_minor'>,
): number {
  const prior_minor = spec.prior_discount_max_minor;
  const current_minor = largestDiscountMinor(spec.discount);
  const largest_minor = prior_minor === undefined ? current_minor : largerDiscountMinor(current_minor, prior_minor);
  if (spec.max_redemptions === null || largest_minor === null) return spec.budget_minor;
  const bound = BigInt(spec.max_redemptions) * BigInt(largest_minor);
  return bound < BigInt(spec.budget_minor) ? Number(bound) : spec.budget_minor;
}
