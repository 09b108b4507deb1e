import { assert } from '../errors.ts';
import { fixedDiscountMinor } from './fixed.ts';
import { percentDiscountMinor } from './percent.ts';
import { type Tier, tieredDiscountMinor } from './tiered.ts';

export type Discount =
  | { type: 'fixed'; amount_minor: number }
  | { type: 'percent'; percent_bp: number; max_discount_minor: number | null }
  | { type: 'tiered'; tiers: Tier[] };

/** The discount an order of `order_minor` gets; 0 <= result <= order_minor. */
export function discountMinor(discount: Discount, order_minor: number): number {
  let result: number;
  switch (discount.type) {
    case 'fixed':
      result = fixedDiscountMinor(order_minor, discount.amount_minor);
      break;
    case 'percent':
      result = percentDiscountMinor(order_minor, discount.percent_bp, discount.max_discount_minor);
      break;
    case 'tiered':
      result = tieredDiscountMinor(order_minor, discount.tiers);
      break;
  }
  assert(Number.isSafeInteger(result) && result >= 0 && result <= order_minor, 'discount out of bounds');
  return result;
}

/**
 * The largest discount one redemption can ever give, or null when unbounded
 * (an uncapped percentage grows with the order).
 */
export function largestDiscountMinor(discount: Discount): number | null {
  switch (discount.type) {
    case 'fixed':
      return discount.amount_minor;
    case 'percent':
      return discount.percent_bp === 0 ? 0 : discount.max_discount_minor;
    case 'tiered':
      return discount.tiers.reduce((m, t) => Math.max(m, t.amount_minor), 0);
  }
}
