import { assert } from '../errors.ts';

/** An exponentially weighted mean and variance: a baseline in O(1) memory that forgets old traffic. */
export interface EwmaState {
  mean: number;
  variance: number;
  samples: number;
}

export const ewmaEmpty: EwmaState = { mean: 0, variance: 0, samples: 0 };

/** alpha is the weight of the newest sample; 1 / alpha is roughly the memory in samples. */
export function assertAlpha(alpha: number): void {
  assert(Number.isFinite(alpha) && alpha > 0 && alpha <= 1, `ewma alpha must be in (0, 1], got ${alpha}`);
}

/**
 * Folds one sample in (West / Finch incremental form). The mean starts at 0 rather than at the first sample, so a
 * series that opens with a burst does not adopt the burst as its normal.
 */
export function ewmaUpdate(state: EwmaState, x: number, alpha: number): EwmaState {
  assertAlpha(alpha);
  assert(Number.isFinite(x), `ewma sample must be finite, got ${x}`);
  const diff = x - state.mean;
  const increment = alpha * diff;
  return {
    mean: state.mean + increment,
    variance: (1 - alpha) * (state.variance + diff * increment),
    samples: state.samples + 1,
  };
}

export function ewmaStd(state: EwmaState): number {
  return Math.sqrt(Math.max(0, state.variance));
}

/** Validates state read back from a shared store: a corrupt baseline must not silence the detector. */
export function assertEwma(state: EwmaState): void {
  assert(Number.isFinite(state.mean), 'ewma mean must be finite');
  assert(Number.isFinite(state.variance) && state.variance >= 0, 'ewma variance must be finite and >= 0');
  assert(Number.isSafeInteger(state.samples) && state.samples >= 0, 'ewma samples must be a count');
}
