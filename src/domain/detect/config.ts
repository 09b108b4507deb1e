import { assert } from '../errors.ts';
import { assertBurnParams, type BurnParams } from './burn.ts';
import type { CashShareParams } from './cash-share.ts';
import { assertConcentrationParams, type ConcentrationParams } from './concentration.ts';
import { assertRateParams, type RateParams } from './rate-series.ts';

/** Space-Saving settings for devices and IPs: who takes an outsized share of recent redemptions. */
export interface HeavyHitterParams {
  /** Entries kept per dimension; any key above 1/capacity of the traffic is guaranteed to be among them. */
  capacity: number;
  half_life_s: number;
  /** Recent redemptions (guaranteed lower bound) a device or IP needs before it can alarm. */
  count_min: number;
  /** ...and the share of the campaign's recent redemptions it must hold. */
  share_min: number;
}

export interface DetectorConfig {
  /** Rates are counts per interval; one second reacts within a second and costs one close per second. */
  interval_ms: number;
  /** Intervals learned before rate and share alarms may fire: a new baseline knows nothing. */
  warmup_intervals: number;
  /** Idle intervals closed one by one after a gap; past this the baselines have forgotten everything anyway. */
  gap_intervals_max: number;
  /** The same alarm (kind and subject) is not repeated within this time. */
  alarm_cooldown_ms: number;
  cooldowns_max: number;
  campaign_rate: RateParams;
  merchant_rate: RateParams;
  /** A merchant spike counts only when the merchant's share jumped, not when the whole campaign rose with it. */
  merchant_concentration: ConcentrationParams;
  /** Merchants with their own baseline, chosen by a decayed Space-Saving sketch: the busiest recent ones. */
  merchants_max: number;
  merchant_half_life_s: number;
  heavy_hitters: HeavyHitterParams;
  cash_share: CashShareParams;
  burn: BurnParams;
}

const rateDefaults = { alpha: 0.1, cusum: { k: 1, h: 8 }, scale_rel_min: 0.25, clip_z: 4 } as const;

export const defaultDetectorConfig: DetectorConfig = {
  interval_ms: 1000,
  warmup_intervals: 60,
  gap_intervals_max: 600,
  alarm_cooldown_ms: 60_000,
  cooldowns_max: 1024,
  campaign_rate: { ...rateDefaults, cusum: { ...rateDefaults.cusum }, floor_per_interval: 20 },
  merchant_rate: { ...rateDefaults, cusum: { ...rateDefaults.cusum }, floor_per_interval: 10 },
  merchant_concentration: { share_delta: 0.25, z_min: 4 },
  merchants_max: 256,
  merchant_half_life_s: 300,
  heavy_hitters: { capacity: 100, half_life_s: 60, count_min: 50, share_min: 0.05 },
  cash_share: { recent_half_life_s: 10, long_half_life_s: 1800, share_min: 0.5, share_delta: 0.25, count_min: 30 },
  burn: { factor: 5, elapsed_fraction_min: 0.1 },
};

function assertCount(value: number, name: string, min: number): void {
  assert(Number.isSafeInteger(value) && value >= min, `${name} must be an integer >= ${min}, got ${value}`);
}

/** Config is trusted code, but a typo such as a zero capacity would silently blind the detector. */
export function assertDetectorConfig(config: DetectorConfig): void {
  assertCount(config.interval_ms, 'interval_ms', 1);
  assertCount(config.warmup_intervals, 'warmup_intervals', 0);
  assertCount(config.gap_intervals_max, 'gap_intervals_max', 1);
  assertCount(config.alarm_cooldown_ms, 'alarm_cooldown_ms', 0);
  assertCount(config.cooldowns_max, 'cooldowns_max', 1);
  assertCount(config.merchants_max, 'merchants_max', 1);
  assertCount(config.heavy_hitters.capacity, 'heavy_hitters.capacity', 1);
  assertRateParams(config.campaign_rate);
  assertRateParams(config.merchant_rate);
  assertConcentrationParams(config.merchant_concentration);
  assertBurnParams(config.burn);
  const { heavy_hitters: heavy, cash_share: cash } = config;
  const half_lives_s = [config.merchant_half_life_s, heavy.half_life_s, cash.recent_half_life_s, cash.long_half_life_s];
  for (const half_life_s of half_lives_s)
    assert(Number.isFinite(half_life_s) && half_life_s > 0, 'half lives must be > 0');
  assert(heavy.share_min >= 0 && heavy.share_min <= 1 && heavy.count_min >= 0, 'bad heavy hitter thresholds');
  assert(cash.share_min >= 0 && cash.share_min <= 1 && cash.share_delta >= 0, 'bad cash share thresholds');
}
