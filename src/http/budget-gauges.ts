import { Gauge, type Registry } from 'prom-client';
import { availableMinor } from '../domain/campaign.ts';
import type { CampaignBudget } from '../store/port.ts';

/** Campaigns with budget gauges; past this many, new campaigns are left out (bounded cardinality). */
const campaigns_tracked_max = 10_000;

const budgetParts = ['total', 'reserved', 'spent', 'available'] as const;

/**
 * `vouchsafe_campaign_budget_minor{campaign_id, part}`. Figures arrive from this node's commits and
 * from answers that may be older (an Idempotency-Key replay answers the campaign as it was then);
 * every committed change moves a campaign's audit chain on, so the larger `audit_seq` is the newer,
 * and a gauge never goes back to older figures.
 */
export class BudgetGauges {
  private readonly budget: Gauge<'campaign_id' | 'part'>;
  /** Tracked campaigns: the audit_seq of the figures each one's gauges show. */
  private readonly shown_seq = new Map<string, number>();

  constructor(registry: Registry) {
    this.budget = new Gauge({
      name: 'vouchsafe_campaign_budget_minor',
      help: 'Budget of a campaign by part (total, reserved, spent, available), in minor units',
      labelNames: ['campaign_id', 'part'],
      registers: [registry],
    });
  }

  /** Shows these figures unless the campaign's gauges already show newer ones (or it is past the bound). */
  observe(b: CampaignBudget): void {
    const shown = this.shown_seq.get(b.id);
    if (shown === undefined ? this.shown_seq.size >= campaigns_tracked_max : shown > b.audit_seq) return;
    this.shown_seq.set(b.id, b.audit_seq);
    const value: Record<(typeof budgetParts)[number], number> = {
      total: b.budget_minor,
      reserved: b.reserved_minor,
      spent: b.spent_minor,
      available: availableMinor(b),
    };
    for (const part of budgetParts) this.budget.set({ campaign_id: b.id, part }, value[part]);
  }
}
