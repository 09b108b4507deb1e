import { assert } from '../errors.ts';

/** What the engine knows about a campaign's money and window when it ticks the detector. */
export interface BudgetSnapshot {
  budget_minor: number;
  spent_minor: number;
  starts_at_ms: number;
  ends_at_ms: number;
}

/**
 * Alarm when spent fraction > factor x max(elapsed fraction, elapsed_fraction_min). With factor 5 and minimum 0.1:
 * more than half the budget gone in the first tenth of the window. The minimum keeps the first minutes, when any
 * spend is a large multiple of almost nothing, from alarming.
 */
export interface BurnParams {
  factor: number;
  elapsed_fraction_min: number;
}

export interface BurnCheck {
  alarm: boolean;
  spent_fraction: number;
  elapsed_fraction: number;
  /** What the plan (spend evenly over the window) expects to be spent by now. */
  planned_minor: number;
}

export function assertBurnParams(params: BurnParams): void {
  assert(Number.isFinite(params.factor) && params.factor > 0, `burn factor must be > 0, got ${params.factor}`);
  const min = params.elapsed_fraction_min;
  assert(Number.isFinite(min) && min > 0 && min <= 1, `elapsed_fraction_min must be in (0, 1], got ${min}`);
}

/** Elapsed share of the campaign window, clamped to [0, 1]. */
export function elapsedFraction(budget: BudgetSnapshot, now_ms: number): number {
  const window_ms = budget.ends_at_ms - budget.starts_at_ms;
  return Math.min(1, Math.max(0, (now_ms - budget.starts_at_ms) / window_ms));
}

/** Budget burn against an even plan: catches a leak that is steady, so no rate detector sees a change. */
export function checkBurn(budget: BudgetSnapshot, now_ms: number, params: BurnParams): BurnCheck {
  assertBurnParams(params);
  assert(Number.isSafeInteger(budget.budget_minor) && budget.budget_minor > 0, 'budget_minor must be > 0');
  assert(Number.isSafeInteger(budget.spent_minor) && budget.spent_minor >= 0, 'spent_minor must be >= 0');
  assert(Number.isSafeInteger(budget.starts_at_ms) && Number.isSafeInteger(budget.ends_at_ms), 'window must be ms');
  assert(budget.ends_at_ms > budget.starts_at_ms, 'campaign window must not be empty');
  assert(Number.isSafeInteger(now_ms), `now_ms must be an integer, got ${now_ms}`);
  const elapsed_fraction = elapsedFraction(budget, now_ms);
  const spent_fraction = budget.spent_minor / budget.budget_minor;
  const allowed_fraction = params.factor * Math.max(elapsed_fraction, params.elapsed_fraction_min);
  return {
    alarm: spent_fraction > allowed_fraction,
    spent_fraction,
    elapsed_fraction,
    planned_minor: Math.floor(budget.budget_minor * elapsed_fraction),
  };
}
