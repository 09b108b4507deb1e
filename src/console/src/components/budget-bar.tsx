import { money } from '../format.ts';

export interface BudgetBarProps {
  budget: { total_minor: number; reserved_minor: number; spent_minor: number; available_minor: number };
  currency: string;
}

function share(part_minor: number, total_minor: number): string {
  return total_minor <= 0 ? '0%' : `${Math.min(100, (part_minor / total_minor) * 100).toFixed(2)}%`;
}

/** Spent, reserved and available as one stacked bar, with the numbers spelt out beside it. */
export function BudgetBar({ budget, currency }: BudgetBarProps) {
  const { total_minor, spent_minor, reserved_minor, available_minor } = budget;
  const label = `Budget ${money(total_minor, currency)}: ${money(spent_minor, currency)} spent, ${money(reserved_minor, currency)} reserved, ${money(available_minor, currency)} available`;
  return (
    <div class="budget" data-spent-minor={spent_minor} data-reserved-minor={reserved_minor}>
      <div class="budget-bar" role="img" aria-label={label}>
        <span class="seg spent" style={{ width: share(spent_minor, total_minor) }} />
        <span class="seg reserved" style={{ width: share(reserved_minor, total_minor) }} />
      </div>
      <dl class="budget-legend">
        <div>
          <dt>
            <span class="swatch spent" aria-hidden="true" />
            Spent
          </dt>
          <dd>{money(spent_minor, currency)}</dd>
        </div>
        <div>
          <dt>
            <span class="swatch reserved" aria-hidden="true" />
            Reserved
          </dt>
          <dd>{money(reserved_minor, currency)}</dd>
        </div>
        <div>
          <dt>
            <span class="swatch available" aria-hidden="true" />
            Available
          </dt>
          <dd>{money(available_minor, currency)}</dd>
        </div>
      </dl>
    </div>
  );
}
