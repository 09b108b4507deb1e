import { assert } from '../errors.ts';

export interface Tier {
  min_spend_minor: number;
  amount_minor: number;
}

/** The best tier whose threshold the order meets; none met: zero. Never more than the order. */
export function tieredDiscountMinor(order_minor: number, tiers: readonly Tier[]): number {
  assert(Number.isSafeInteger(order_minor) && order_minor >= 0);
  let best_minor = 0;
  for (const tier of tiers) {
    if (order_minor >= tier.min_spend_minor && tier.amount_minor > best_minor) best_minor = tier.amount_minor;
  }
  return Math.min(best_minor, order_minor);
}

/** The lowest spend at which any tier applies (the effective minimum spend of a tiered discount). */
export function tieredThresholdMinor(tiers: readonly Tier[]): number {
  let low = Number.MAX_SAFE_INTEGER;
  for (const tier of tiers) low = Math.min(low, tier.min_spend_minor);
  return tiers.length === 0 ? 0 : low;
}
