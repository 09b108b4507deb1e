import type { Campaign, CampaignSpec } from './campaign.ts';
import { largestDiscountMinor } from './discount/discount.ts';

/** The larger of two largest discounts; null (unbounded) wins. */
function largerDiscountMinor(a: number | null, b: number | null): number | null {
  return a === null || b === null ? null : Math.max(a, b);
}

type DiscountHistory = Pick<CampaignSpec, 'discount'> & Pick<Campaign, 'prior_discount_max_minor'>;

/**
 * The largest discount a live redemption of the campaign can carry: its discount's, or an earlier
 * setting's while redemptions made under it may be live (prior_discount_max_minor); null: no cap.
 */
export function largestDiscountEverMinor(c: DiscountHistory): number | null {
  const current_minor = largestDiscountMinor(c.discount);
  const prior_minor = c.prior_discount_max_minor;
  return prior_minor === undefined ? current_minor : largerDiscountMinor(current_minor, prior_minor);
}

/**
 * The most a campaign can ever cost: its budget, or less when max_redemptions times the largest
 * possible discount is smaller. Redemptions made before the discount changed keep their amounts,
 * so the largest possible discount counts the earlier setting's while they may be live.
 */
export function maxExposureMinor(
  spec: Pick<CampaignSpec, 'budget_minor' | 'max_redemptions'> & DiscountHistory,
): number {
  const largest_minor = largestDiscountEverMinor(spec);
  if (spec.max_redemptions === null || largest_minor === null) return spec.budget_minor;
  const bound = BigInt(spec.max_redemptions) * BigInt(largest_minor);
  return bound < BigInt(spec.budget_minor) ? Number(bound) : spec.budget_minor;
}
