import type { Alert } from './api.ts';
import { count, money } from './format.ts';

function share(fraction: number): string {
  return `${(fraction * 100).toFixed(1)}%`;
}

/**
 * What an alert measured, in its own units (see the detector's Alarm): a budget burn compares money,
 * spent against the even plan, so it reads in the campaign's currency, never as bare minor units.
 */
export function alertFigures(a: Pick<Alert, 'kind' | 'observed' | 'baseline'>, currency: string): string {
  const { observed, baseline } = a;
  switch (a.kind) {
    case 'rate_spike':
    case 'merchant_spike':
      return `${count(observed)} redemptions in a second against a usual ${baseline.toFixed(1)}`;
    case 'budget_burn':
      return `${money(Math.round(observed), currency)} spent where an even pace would have spent ${money(Math.round(baseline), currency)} by now`;
    case 'heavy_hitter':
      return `${count(Math.round(observed))} of the campaign's ${count(Math.round(baseline))} recent redemptions`;
    case 'cash_equivalent_share':
      return `cash-equivalent orders are ${share(observed)} of recent redemptions against ${share(baseline)} over the long run`;
    default:
      return `observed ${observed.toFixed(1)} against a baseline of ${baseline.toFixed(1)}`;
  }
}
