import { assert } from '../errors.ts';
import { halfLifeFactor } from './decay.ts';

/**
 * Share of discount money going to cash-equivalent products (phone top-ups, gift cards): the classic way a leaked
 * coupon is cashed out. A recent share is compared with a long baseline, so a top-up campaign is not flagged for
 * being one.
 */
export interface CashShareParams {
  recent_half_life_s: number;
  long_half_life_s: number;
  /** The recent share must reach this... */
  share_min: number;
  /** ...and exceed the long baseline by this much. */
  share_delta: number;
  /** Recent cash-equivalent redemptions needed: a handful of top-ups never alarms. */
  count_min: number;
}

/** Decayed, discount-weighted sums: statistics rather than money, so they are fractional. */
export interface CashShareState {
  recent_total: number;
  recent_cash: number;
  recent_cash_count: number;
  long_total: number;
  long_cash: number;
}

export const cashShareEmpty: CashShareState = {
  recent_total: 0,
  recent_cash: 0,
  recent_cash_count: 0,
  long_total: 0,
  long_cash: 0,
};

export function assertCashShare(state: CashShareState): void {
  for (const value of Object.values(state))
    assert(Number.isFinite(value) && value >= 0, 'cash share sums must be >= 0');
}

/** Weights by discount: the money at stake, not the number of orders. */
export function cashShareAdd(state: CashShareState, discount_minor: number, cash_equivalent: boolean): CashShareState {
  assert(Number.isSafeInteger(discount_minor) && discount_minor >= 0, `bad discount_minor ${discount_minor}`);
  const cash = cash_equivalent ? discount_minor : 0;
  return {
    recent_total: state.recent_total + discount_minor,
    recent_cash: state.recent_cash + cash,
    recent_cash_count: state.recent_cash_count + (cash_equivalent ? 1 : 0),
    long_total: state.long_total + discount_minor,
    long_cash: state.long_cash + cash,
  };
}

export function cashShareDecay(state: CashShareState, elapsed_s: number, params: CashShareParams): CashShareState {
  const recent = halfLifeFactor(elapsed_s, params.recent_half_life_s);
  const long = halfLifeFactor(elapsed_s, params.long_half_life_s);
  return {
    recent_total: state.recent_total * recent,
    recent_cash: state.recent_cash * recent,
    recent_cash_count: state.recent_cash_count * recent,
    long_total: state.long_total * long,
    long_cash: state.long_cash * long,
  };
}

export function checkCashShare(
  state: CashShareState,
  params: CashShareParams,
): { alarm: boolean; observed: number; baseline: number } {
  const observed = state.recent_total > 0 ? state.recent_cash / state.recent_total : 0;
  const baseline = state.long_total > 0 ? state.long_cash / state.long_total : 0;
  const alarm =
    state.recent_cash_count >= params.count_min &&
    observed >= params.share_min &&
    observed >= baseline + params.share_delta;
  return { alarm, observed, baseline };
}
