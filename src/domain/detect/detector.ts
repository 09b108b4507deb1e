import { assert } from '../errors.ts';
import { ipNetwork } from '../velocity.ts';
import { type BudgetSnapshot, checkBurn } from './burn.ts';
import { type CashShareState, cashShareAdd, cashShareDecay, cashShareEmpty, checkCashShare } from './cash-share.ts';
import { isConcentrated, usualShare } from './concentration.ts';
import { assertDetectorConfig, type DetectorConfig, defaultDetectorConfig } from './config.ts';
import { halfLifeFactor } from './decay.ts';
import { type DetectorState, parseDetectorState } from './detector-state.ts';
import { SpaceSaving, type SpaceSavingState } from './heavy-hitters.ts';
import {
  closeRateInterval,
  type IntervalVerdict,
  partialSpike,
  type RateSeries,
  rateSeriesEmpty,
} from './rate-series.ts';

export type AlarmKind = 'rate_spike' | 'merchant_spike' | 'budget_burn' | 'heavy_hitter' | 'cash_equivalent_share';

/**
 * One finding. observed / baseline by kind: rate_spike and merchant_spike, redemptions in the interval / the
 * baseline mean per interval; budget_burn, spent_minor / planned_minor; heavy_hitter, the subject's recent
 * redemptions / the campaign's recent redemptions; cash_equivalent_share, recent share / long-run share (0..1).
 */
export interface Alarm {
  kind: AlarmKind;
  merchant_id: string | null;
  /** `device:<id>` or `ip:<address>` for heavy hitters, otherwise null. */
  subject: string | null;
  observed: number;
  baseline: number;
  at_ms: number;
}

/** One redemption as the engine records it (reserve or confirm time). */
export interface RedemptionObservation {
  now_ms: number;
  merchant_id: string;
  device_id: string | null;
  ip: string | null;
  discount_minor: number;
  product_kind: string;
  cash_equivalent: boolean;
}

export interface DetectorSizes {
  merchants: number;
  devices: number;
  ips: number;
  cooldowns: number;
}

function assertObservation(event: RedemptionObservation): void {
  assert(
    Number.isSafeInteger(event.now_ms) && event.now_ms >= 0,
    `now_ms must be an integer >= 0, got ${event.now_ms}`,
  );
  assert(typeof event.merchant_id === 'string' && event.merchant_id.length > 0, 'merchant_id must be a string');
  assert(Number.isSafeInteger(event.discount_minor) && event.discount_minor >= 0, 'discount_minor must be >= 0');
}

/**
 * Streaming anomaly detection for one campaign in bounded memory: per-second rates against EWMA baselines with
 * CUSUM (campaign-wide and per merchant), Space-Saving heavy hitters (devices, IPs), the cash-equivalent share,
 * and budget burn against plan. Pure: time arrives with each call, and the engine decides what an alarm does.
 */
export class CampaignDetector {
  private interval_index: number | null = null;
  private intervals_closed = 0;
  private campaign: RateSeries = rateSeriesEmpty();
  private readonly merchants: SpaceSaving;
  private readonly merchant_series = new Map<string, RateSeries>();
  private readonly devices: SpaceSaving;
  private readonly ips: SpaceSaving;
  private cash: CashShareState = cashShareEmpty;
  private readonly cooldowns = new Map<string, number>();
  /** The budget as the last budget_burn alarm saw it: the same spend on the same basis is no new evidence. */
  private burn_alarmed: BudgetSnapshot | null = null;

  /** `state` comes from `fromJSON`; without it the detector starts cold and warms up on live traffic. */
  constructor(
    readonly config: DetectorConfig = defaultDetectorConfig,
    state: DetectorState | null = null,
  ) {
    assertDetectorConfig(config);
    const sketch = (saved: SpaceSavingState | undefined, capacity: number): SpaceSaving =>
      saved === undefined ? new SpaceSaving(capacity) : SpaceSaving.fromJSON(saved, capacity);
    this.merchants = sketch(state?.merchants, config.merchants_max);
    this.devices = sketch(state?.devices, config.heavy_hitters.capacity);
    this.ips = sketch(state?.ips, config.heavy_hitters.capacity);
    if (state !== null) this.load(state);
  }

  /** Counts one redemption; alarms fire mid-interval, so a burst is caught while it is still small. */
  observe(event: RedemptionObservation): Alarm[] {
    assertObservation(event);
    const alarms = this.advance(event.now_ms);
    const at_ms = event.now_ms;
    const series = this.trackMerchant(event.merchant_id);
    series.count += 1;
    this.campaign.count += 1;
    this.cash = cashShareAdd(this.cash, event.discount_minor, event.cash_equivalent);
    if (this.isWarm()) this.checkRates(alarms, event.merchant_id, series, at_ms);
    if (this.isWarm() && event.cash_equivalent) this.checkCash(alarms, at_ms);
    this.checkHeavy(alarms, this.devices, 'device', event.device_id, at_ms);
    // An IPv6 address counts with its /64, one subscriber's network (as velocity and the lockout count it).
    this.checkHeavy(alarms, this.ips, 'ip', event.ip === null ? null : ipNetwork(event.ip), at_ms);
    return alarms;
  }

  /** Closes elapsed intervals and checks burn against plan; call about once a second, with or without traffic. */
  tick(now_ms: number, budget: BudgetSnapshot | null): Alarm[] {
    assert(Number.isSafeInteger(now_ms) && now_ms >= 0, `now_ms must be an integer >= 0, got ${now_ms}`);
    const alarms = this.advance(now_ms);
    if (budget === null) return alarms;
    const burn = checkBurn(budget, now_ms, this.config.burn);
    if (burn.alarm && !this.sameBurn(budget)) {
      const alarm = { merchant_id: null, subject: null, at_ms: now_ms };
      const raised = alarms.length;
      this.emit(alarms, { ...alarm, kind: 'budget_burn', observed: budget.spent_minor, baseline: burn.planned_minor });
      if (alarms.length > raised) this.burn_alarmed = { ...budget };
    }
    return alarms;
  }

  /** Entries held per structure; each is bounded by its configured maximum. */
  sizes(): DetectorSizes {
    return {
      merchants: this.merchant_series.size,
      devices: this.devices.size,
      ips: this.ips.size,
      cooldowns: this.cooldowns.size,
    };
  }

  toJSON(): DetectorState {
    const copy = (s: RateSeries): RateSeries => ({ baseline: { ...s.baseline }, cusum_s: s.cusum_s, count: s.count });
    return {
      version: 1,
      interval_index: this.interval_index,
      intervals_closed: this.intervals_closed,
      campaign: copy(this.campaign),
      merchants: this.merchants.toJSON(),
      merchant_series: [...this.merchant_series].map(([id, s]) => [id, copy(s)]),
      devices: this.devices.toJSON(),
      ips: this.ips.toJSON(),
      cash: { ...this.cash },
      cooldowns: [...this.cooldowns],
      burn_alarmed: this.burn_alarmed === null ? null : { ...this.burn_alarmed },
    };
  }

  static fromJSON(value: unknown, config: DetectorConfig = defaultDetectorConfig): CampaignDetector {
    return new CampaignDetector(config, parseDetectorState(value));
  }

  private load(state: DetectorState): void {
    assert(state.merchant_series.length <= this.config.merchants_max, 'detector state: too many merchants');
    assert(state.cooldowns.length <= this.config.cooldowns_max, 'detector state: too many cooldowns');
    for (const [id, series] of state.merchant_series) {
      assert(this.merchants.get(id) !== undefined, `detector state: merchant ${id} has a series but no sketch entry`);
      this.merchant_series.set(id, series);
    }
    for (const [key, until_ms] of state.cooldowns) this.cooldowns.set(key, until_ms);
    this.interval_index = state.interval_index;
    this.intervals_closed = state.intervals_closed;
    this.campaign = state.campaign;
    this.cash = state.cash;
    this.burn_alarmed = state.burn_alarmed;
  }

  /**
   * Whether this burn is what the last budget_burn alarm already said: the same window and budget (no
   * resume or change since) and nothing more spent. A burn stays ahead of plan for days once it is, so
   * without this the same figures would alarm again at the end of every cooldown.
   */
  private sameBurn(budget: BudgetSnapshot): boolean {
    const last = this.burn_alarmed;
    return (
      last !== null &&
      last.budget_minor === budget.budget_minor &&
      last.starts_at_ms === budget.starts_at_ms &&
      last.ends_at_ms === budget.ends_at_ms &&
      budget.spent_minor <= last.spent_minor
    );
  }

  private isWarm(): boolean {
    return this.intervals_closed >= this.config.warmup_intervals;
  }

  /** Late events (from another node's clock) count in the open interval: time never runs backwards here. */
  private advance(now_ms: number): Alarm[] {
    const alarms: Alarm[] = [];
    const index = Math.floor(now_ms / this.config.interval_ms);
    if (this.interval_index === null) this.interval_index = index;
    const open = this.interval_index;
    if (index <= open) return alarms;
    const steps = index - open;
    for (let i = 1; i <= Math.min(steps, this.config.gap_intervals_max); i++) {
      this.closeInterval(alarms, (open + i) * this.config.interval_ms);
    }
    this.decay((steps * this.config.interval_ms) / 1000);
    this.interval_index = index;
    return alarms;
  }

  private closeInterval(alarms: Alarm[], end_ms: number): void {
    const warm = this.isWarm();
    const { campaign_rate, merchant_rate } = this.config;
    const open = this.campaign;
    const campaign = closeRateInterval(open, campaign_rate, warm);
    this.campaign = campaign.series;
    if (campaign.verdict.spike) this.emitVerdict(alarms, 'rate_spike', null, campaign.verdict, end_ms);
    for (const [id, series] of this.merchant_series) {
      const merchant = closeRateInterval(series, merchant_rate, warm);
      this.merchant_series.set(id, merchant.series);
      if (merchant.verdict.spike && this.concentrated(series, open)) {
        this.emitVerdict(alarms, 'merchant_spike', id, merchant.verdict, end_ms);
      }
    }
    this.intervals_closed += 1;
  }

  /**
   * Whether the merchant's count in the open interval is its own surge: its share of the campaign's traffic
   * jumped. A flash sale lifts every merchant together and is the campaign's rate_spike, not a merchant's.
   */
  private concentrated(merchant: RateSeries, campaign: RateSeries): boolean {
    const usual = usualShare(merchant.baseline.mean, campaign.baseline.mean);
    return isConcentrated(merchant.count, campaign.count, usual, this.config.merchant_concentration);
  }

  private decay(elapsed_s: number): void {
    const { merchant_half_life_s, heavy_hitters, cash_share } = this.config;
    this.merchants.decay(halfLifeFactor(elapsed_s, merchant_half_life_s));
    const heavy_factor = halfLifeFactor(elapsed_s, heavy_hitters.half_life_s);
    this.devices.decay(heavy_factor);
    this.ips.decay(heavy_factor);
    this.cash = cashShareDecay(this.cash, elapsed_s, cash_share);
  }

  /** The sketch decides which merchants keep a baseline; an evicted merchant's series goes with it. */
  private trackMerchant(merchant_id: string): RateSeries {
    const { evicted } = this.merchants.add(merchant_id);
    if (evicted !== null) this.merchant_series.delete(evicted);
    const existing = this.merchant_series.get(merchant_id);
    if (existing !== undefined) return existing;
    const series = rateSeriesEmpty();
    this.merchant_series.set(merchant_id, series);
    return series;
  }

  private checkRates(alarms: Alarm[], merchant_id: string, series: RateSeries, at_ms: number): void {
    if (partialSpike(this.campaign, this.config.campaign_rate)) {
      this.emitRate(alarms, 'rate_spike', null, this.campaign, at_ms);
    }
    if (partialSpike(series, this.config.merchant_rate) && this.concentrated(series, this.campaign))
      this.emitRate(alarms, 'merchant_spike', merchant_id, series, at_ms);
  }

  private checkHeavy(
    alarms: Alarm[],
    sketch: SpaceSaving,
    dimension: 'device' | 'ip',
    id: string | null,
    at_ms: number,
  ): void {
    if (id === null) return;
    const entry = sketch.add(id);
    // count - error is a guaranteed lower bound: the sketch's overestimate can never raise an alarm.
    const lower = entry.count - entry.error;
    const { count_min, share_min } = this.config.heavy_hitters;
    if (lower < count_min || lower < share_min * sketch.total) return;
    const subject = `${dimension}:${id}`;
    this.emit(alarms, {
      kind: 'heavy_hitter',
      merchant_id: null,
      subject,
      observed: lower,
      baseline: sketch.total,
      at_ms,
    });
  }

  private checkCash(alarms: Alarm[], at_ms: number): void {
    const check = checkCashShare(this.cash, this.config.cash_share);
    if (!check.alarm) return;
    const { observed, baseline } = check;
    this.emit(alarms, { kind: 'cash_equivalent_share', merchant_id: null, subject: null, observed, baseline, at_ms });
  }

  private emitRate(alarms: Alarm[], kind: AlarmKind, merchant_id: string | null, series: RateSeries, at_ms: number) {
    this.emit(alarms, {
      kind,
      merchant_id,
      subject: null,
      observed: series.count,
      baseline: series.baseline.mean,
      at_ms,
    });
  }

  private emitVerdict(alarms: Alarm[], kind: AlarmKind, merchant_id: string | null, v: IntervalVerdict, at_ms: number) {
    this.emit(alarms, { kind, merchant_id, subject: null, observed: v.observed, baseline: v.baseline, at_ms });
  }

  /** One alarm per kind and subject per cooldown: a pause needs one signal, not a flood. */
  private emit(alarms: Alarm[], alarm: Alarm): void {
    const key = `${alarm.kind}|${alarm.subject ?? alarm.merchant_id ?? ''}`;
    const until_ms = this.cooldowns.get(key);
    if (until_ms !== undefined && alarm.at_ms < until_ms) return;
    this.cooldowns.delete(key);
    if (this.cooldowns.size >= this.config.cooldowns_max) this.pruneCooldowns(alarm.at_ms);
    this.cooldowns.set(key, alarm.at_ms + this.config.alarm_cooldown_ms);
    alarms.push(alarm);
  }

  /** Drops expired entries, then the oldest (Map keeps insertion order), so the map never exceeds its bound. */
  private pruneCooldowns(now_ms: number): void {
    for (const [key, until_ms] of this.cooldowns) if (until_ms <= now_ms) this.cooldowns.delete(key);
    for (const key of this.cooldowns.keys()) {
      if (this.cooldowns.size < this.config.cooldowns_max) return;
      this.cooldowns.delete(key);
    }
  }
}
