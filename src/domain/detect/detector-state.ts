import { assert } from '../errors.ts';
import type { BudgetSnapshot } from './burn.ts';
import { assertCashShare, type CashShareState } from './cash-share.ts';
import type { SpaceSavingState } from './heavy-hitters.ts';
import { assertRateSeries, type RateSeries } from './rate-series.ts';

/** A detector's whole state as plain JSON data, so nodes can share it through Redis. */
export interface DetectorState {
  version: 1;
  /** floor(now_ms / interval_ms) of the open interval; null before the first event. */
  interval_index: number | null;
  intervals_closed: number;
  campaign: RateSeries;
  merchants: SpaceSavingState;
  merchant_series: [string, RateSeries][];
  devices: SpaceSavingState;
  ips: SpaceSavingState;
  cash: CashShareState;
  /** [alarm key, silent until ms]. */
  cooldowns: [string, number][];
  /** The budget the last budget_burn alarm saw; null when none (and in state saved before it was kept). */
  burn_alarmed: BudgetSnapshot | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, what: string): Record<string, unknown> {
  assert(isRecord(value), `detector state: ${what} must be an object`);
  return value;
}

function list(value: unknown, what: string): unknown[] {
  assert(Array.isArray(value), `detector state: ${what} must be an array`);
  return value;
}

function num(value: unknown, what: string): number {
  assert(typeof value === 'number' && Number.isFinite(value), `detector state: ${what} must be a finite number`);
  return value;
}

function pair(value: unknown, what: string): [string, unknown] {
  const [key, rest, ...extra] = list(value, what);
  assert(typeof key === 'string' && extra.length === 0, `detector state: ${what} must be [string, value]`);
  return [key, rest];
}

function parseSeries(value: unknown, what: string): RateSeries {
  const o = record(value, what);
  const b = record(o.baseline, `${what}.baseline`);
  const series: RateSeries = {
    baseline: { mean: num(b.mean, 'mean'), variance: num(b.variance, 'variance'), samples: num(b.samples, 'samples') },
    cusum_s: num(o.cusum_s, `${what}.cusum_s`),
    count: num(o.count, `${what}.count`),
  };
  assertRateSeries(series);
  return series;
}

function parseSketch(value: unknown, what: string): SpaceSavingState {
  const o = record(value, what);
  const items = list(o.items, `${what}.items`).map((item): [string, number, number] => {
    const [key, count, error, ...extra] = list(item, `${what} item`);
    assert(typeof key === 'string' && extra.length === 0, `detector state: ${what} item must be [key, count, error]`);
    return [key, num(count, `${what} count`), num(error, `${what} error`)];
  });
  return { total: num(o.total, `${what}.total`), items };
}

function parseCash(value: unknown): CashShareState {
  const o = record(value, 'cash');
  const cash: CashShareState = {
    recent_total: num(o.recent_total, 'cash.recent_total'),
    recent_cash: num(o.recent_cash, 'cash.recent_cash'),
    recent_cash_count: num(o.recent_cash_count, 'cash.recent_cash_count'),
    long_total: num(o.long_total, 'cash.long_total'),
    long_cash: num(o.long_cash, 'cash.long_cash'),
  };
  assertCashShare(cash);
  return cash;
}

function parseBurnAlarmed(value: unknown): BudgetSnapshot | null {
  if (value === undefined || value === null) return null;
  const o = record(value, 'burn_alarmed');
  return {
    budget_minor: num(o.budget_minor, 'burn_alarmed.budget_minor'),
    spent_minor: num(o.spent_minor, 'burn_alarmed.spent_minor'),
    starts_at_ms: num(o.starts_at_ms, 'burn_alarmed.starts_at_ms'),
    ends_at_ms: num(o.ends_at_ms, 'burn_alarmed.ends_at_ms'),
  };
}

/** Reads state back from a shared store; corrupt state is a loud bug, never a silently blind detector. */
export function parseDetectorState(value: unknown): DetectorState {
  const o = record(value, 'root');
  assert(o.version === 1, `detector state: unknown version ${String(o.version)}`);
  const interval_index = o.interval_index === null ? null : num(o.interval_index, 'interval_index');
  const intervals_closed = num(o.intervals_closed, 'intervals_closed');
  assert(interval_index === null || Number.isSafeInteger(interval_index), 'detector state: bad interval_index');
  assert(Number.isSafeInteger(intervals_closed) && intervals_closed >= 0, 'detector state: bad intervals_closed');
  return {
    version: 1,
    interval_index,
    intervals_closed,
    campaign: parseSeries(o.campaign, 'campaign'),
    merchants: parseSketch(o.merchants, 'merchants'),
    merchant_series: list(o.merchant_series, 'merchant_series').map((item) => {
      const [key, series] = pair(item, 'merchant_series item');
      return [key, parseSeries(series, `merchant ${key}`)];
    }),
    devices: parseSketch(o.devices, 'devices'),
    ips: parseSketch(o.ips, 'ips'),
    cash: parseCash(o.cash),
    cooldowns: list(o.cooldowns, 'cooldowns').map((item) => {
      const [key, until_ms] = pair(item, 'cooldown');
      return [key, num(until_ms, 'cooldown until_ms')];
    }),
    burn_alarmed: parseBurnAlarmed(o.burn_alarmed),
  };
}
