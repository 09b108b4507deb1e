import { assert } from '../errors.ts';

/**
 * When a merchant's surge is its own rather than the whole campaign's. A flash sale lifts every
 * merchant together, each keeping about its usual share; a leaked coupon cashed out at one shop
 * (or a few colluding ones) moves the share. Both conditions must hold.
 */
export interface ConcentrationParams {
  /** The merchant's share of the open interval must exceed its usual share by this much (0..1)... */
  share_delta: number;
  /** ...and by this many binomial standard deviations, so a small, early count cannot pass by chance. */
  z_min: number;
}

export function assertConcentrationParams(params: ConcentrationParams): void {
  const { share_delta, z_min } = params;
  assert(Number.isFinite(share_delta) && share_delta >= 0 && share_delta <= 1, `share_delta must be in [0, 1]`);
  assert(Number.isFinite(z_min) && z_min >= 0, `z_min must be >= 0, got ${z_min}`);
}

/**
 * `count` of the campaign's `total` redemptions in the open interval went to the merchant, whose usual share is
 * `usual_share` (its baseline rate over the campaign's). The +1 under the root keeps a share of 0 from making
 * any single redemption significant.
 */
export function isConcentrated(
  count: number,
  total: number,
  usual_share: number,
  params: ConcentrationParams,
): boolean {
  assert(Number.isSafeInteger(count) && Number.isSafeInteger(total) && count >= 0 && count <= total, 'bad counts');
  assert(Number.isFinite(usual_share) && usual_share >= 0 && usual_share <= 1, 'usual_share must be in [0, 1]');
  if (total === 0) return false;
  const expected = total * usual_share;
  const sd = Math.sqrt(expected * (1 - usual_share) + 1);
  return count / total >= usual_share + params.share_delta && count - expected >= params.z_min * sd;
}

/** A merchant's usual share of the campaign's traffic, from the two baselines (0 while the campaign has none). */
export function usualShare(merchant_mean: number, campaign_mean: number): number {
  if (!(campaign_mean > 0)) return 0;
  return Math.min(1, Math.max(0, merchant_mean / campaign_mean));
}
