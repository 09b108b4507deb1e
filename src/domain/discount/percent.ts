import { assert } from '../errors.ts';

/** Rounds down: a customer never gets more than the advertised percentage. */
export function percentDiscountMinor(order_minor: number, percent_bp: number, cap_minor: number | null): number {
  assert(Number.isSafeInteger(order_minor) && order_minor >= 0);
  assert(Number.isInteger(percent_bp) && percent_bp >= 0 && percent_bp <= 10_000);
  // BigInt keeps order_minor * percent_bp exact beyond 2^53.
  const raw_minor = Number((BigInt(order_minor) * BigInt(percent_bp)) / 10_000n);
  const discount_minor = Math.min(raw_minor, cap_minor ?? raw_minor, order_minor);
  assert(discount_minor >= 0 && discount_minor <= order_minor);
  return discount_minor;
}
