import { assert } from '../errors.ts';

/** Multiplier that halves a weight every half_life_s: recent traffic counts, old traffic fades without a log. */
export function halfLifeFactor(elapsed_s: number, half_life_s: number): number {
  assert(Number.isFinite(elapsed_s) && elapsed_s >= 0, `elapsed_s must be >= 0, got ${elapsed_s}`);
  assert(Number.isFinite(half_life_s) && half_life_s > 0, `half_life_s must be > 0, got ${half_life_s}`);
  return 2 ** (-elapsed_s / half_life_s);
}
