import { assert } from '../errors.ts';

/** k: slack, the shift (in standard deviations) we tolerate; h: the evidence needed to signal. */
export interface CusumParams {
  k: number;
  h: number;
}

export interface CusumStep {
  /** The statistic after this sample; back to 0 after a signal so the next run starts fresh. */
  s: number;
  signal: boolean;
}

export function assertCusumParams(params: CusumParams): void {
  assert(Number.isFinite(params.k) && params.k >= 0, `cusum k must be >= 0, got ${params.k}`);
  assert(Number.isFinite(params.h) && params.h > 0, `cusum h must be > 0, got ${params.h}`);
}

/** The statistic after one standardized sample z, before any reset: sums only evidence above the slack. */
export function cusumNext(s: number, z: number, params: CusumParams): number {
  assert(Number.isFinite(s) && s >= 0, `cusum statistic must be finite and >= 0, got ${s}`);
  assert(Number.isFinite(z), `cusum sample must be finite, got ${z}`);
  return Math.max(0, s + z - params.k);
}

/** One-sided (upper) CUSUM: accumulates small persistent rises that a single threshold on z would miss. */
export function cusumUpdate(s: number, z: number, params: CusumParams): CusumStep {
  assertCusumParams(params);
  const next = cusumNext(s, z, params);
  return next > params.h ? { s: 0, signal: true } : { s: next, signal: false };
}
