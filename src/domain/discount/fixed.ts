import { assert } from '../errors.ts';

/** A fixed amount off, never more than the order. */
export function fixedDiscountMinor(order_minor: number, amount_minor: number): number {
  assert(Number.isSafeInteger(order_minor) && order_minor >= 0);
  assert(Number.isSafeInteger(amount_minor) && amount_minor >= 0);
  return Math.min(amount_minor, order_minor);
}
