import type { CampaignSpec } from './campaign.ts';
import { largestDiscountMinor } from './discount/discount.ts';

/**
 * The most a campaign can ever cost: its budget, or less when max_redemptions
 * times the largest possible discount is smaller.
 */
export function maxExposureMinor(spec: Pick<CampaignSpec, 'budget_minor' | 'max_redemptions' | 'discount'>): number {
  const largest_minor = largestDiscountMinor(spec.discount);
  if (spec.max_redemptions === null || largest_minor === null) return spec.budget_minor;
  const bound = BigInt(spec.max_redemptions) * BigInt(largest_minor);
  return bound < BigInt(spec.budget_minor) ? Number(bound) : spec.budget_minor;
}
