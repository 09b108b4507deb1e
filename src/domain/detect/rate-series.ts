import { assert } from '../errors.ts';
import { assertCusumParams, type CusumParams, cusumNext, cusumUpdate } from './cusum.ts';
import { assertAlpha, assertEwma, type EwmaState, ewmaEmpty, ewmaStd, ewmaUpdate } from './ewma.ts';

/** How one per-interval count series (a campaign's or a merchant's) is judged. */
export interface RateParams {
  /** EWMA weight of the newest interval; fast enough (about 10 intervals of memory) to follow organic growth. */
  alpha: number;
  cusum: CusumParams;
  /** The scale is at least this share of the mean, so a +25% wobble at high volume is one unit, not ten. */
  scale_rel_min: number;
  /** Once warm, an interval folds into the baseline at most this many scales above it: a spike cannot teach itself. */
  clip_z: number;
  /** An interval with fewer events never alarms, however unusual: tiny counts are noise. */
  floor_per_interval: number;
}

/** A baseline, the CUSUM statistic, and the count of the open interval. */
export interface RateSeries {
  baseline: EwmaState;
  cusum_s: number;
  count: number;
}

export interface IntervalVerdict {
  spike: boolean;
  observed: number;
  baseline: number;
}

export function rateSeriesEmpty(): RateSeries {
  return { baseline: ewmaEmpty, cusum_s: 0, count: 0 };
}

export function assertRateParams(params: RateParams): void {
  assertAlpha(params.alpha);
  assertCusumParams(params.cusum);
  assert(Number.isFinite(params.scale_rel_min) && params.scale_rel_min >= 0, 'scale_rel_min must be >= 0');
  assert(Number.isFinite(params.clip_z) && params.clip_z > 0, 'clip_z must be > 0');
  assert(Number.isFinite(params.floor_per_interval) && params.floor_per_interval >= 0, 'floor must be >= 0');
}

export function assertRateSeries(series: RateSeries): void {
  assertEwma(series.baseline);
  assert(Number.isFinite(series.cusum_s) && series.cusum_s >= 0, 'cusum statistic must be finite and >= 0');
  assert(Number.isSafeInteger(series.count) && series.count >= 0, 'interval count must be a count');
}

/** Noise scale for counts: the observed spread, Poisson noise sqrt(mean), a share of the mean, and at least 1. */
export function rateScale(baseline: EwmaState, params: RateParams): number {
  const mean = Math.max(0, baseline.mean);
  return Math.max(ewmaStd(baseline), Math.sqrt(mean), params.scale_rel_min * mean, 1);
}

export function rateZ(baseline: EwmaState, count: number, params: RateParams): number {
  return (count - baseline.mean) / rateScale(baseline, params);
}

/**
 * Whether the open interval already signals. Counts only grow within an interval, so this fires no more often
 * than the check at close, but it fires during a burst instead of after it.
 */
export function partialSpike(series: RateSeries, params: RateParams): boolean {
  if (series.count < params.floor_per_interval) return false;
  const z = rateZ(series.baseline, series.count, params);
  return cusumNext(series.cusum_s, z, params.cusum) > params.cusum.h;
}

/** Closes the interval: judges its count, then folds it into the baseline. Before warm-up it only learns. */
export function closeRateInterval(
  series: RateSeries,
  params: RateParams,
  warm: boolean,
): { series: RateSeries; verdict: IntervalVerdict } {
  const { baseline, count } = series;
  const verdict: IntervalVerdict = { spike: false, observed: count, baseline: baseline.mean };
  let cusum_s = 0;
  let sample = count;
  if (warm) {
    const step = cusumUpdate(series.cusum_s, rateZ(baseline, count, params), params.cusum);
    cusum_s = step.s;
    verdict.spike = step.signal && count >= params.floor_per_interval;
    sample = Math.min(count, baseline.mean + params.clip_z * rateScale(baseline, params));
  }
  return { series: { baseline: ewmaUpdate(baseline, sample, params.alpha), cusum_s, count: 0 }, verdict };
}
