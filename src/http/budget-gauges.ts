import { Counter, Gauge, type Registry } from 'prom-client';
import { limits } from '../config/limits.ts';
import { availableMinor, isOver } from '../domain/campaign.ts';
import type { Clock } from '../engine/clock.ts';
import { Lru } from '../engine/detection/lru.ts';
import type { CampaignBudget, Store } from '../store/port.ts';
import { waitAtMost } from './wait-at-most.ts';

/** Campaigns with budget gauges; past this many, new campaigns are left out (bounded cardinality). */
const campaigns_tracked_max = 10_000;

/** Campaigns remembered as dropped (see BudgetGauges.dropped_seq); past this many, the oldest is forgotten. */
const campaigns_dropped_max = 10_000;

const budgetParts = ['total', 'reserved', 'spent', 'available'] as const;

export interface BudgetSource {
  store: Pick<Store, 'campaignBudgets'>;
  clock: Clock;
  /** Told when reads start failing (once per run of failures) and when they work again. */
  log?: { warn(obj: object, msg: string): void; info(msg: string): void };
}

/**
 * `vouchsafe_campaign_budget_minor{campaign_id, part}`, right whichever node is scraped. This node's
 * commits set the gauges at once; a scrape also reads every node's figures from the store (one
 * bounded query, at most every limits.metrics_budget_refresh_ms, shared by concurrent scrapes). A
 * read that fails or is slow never fails the scrape: it shows the last figures, and
 * `..._refresh_failures_total` and `..._refreshed_timestamp_seconds` say how old they may be.
 *
 * Figures also arrive older than what is shown (an Idempotency-Key replay answers the campaign as it
 * was then; a store read may finish after a newer commit). Every committed change moves a
 * campaign's audit chain on, so the larger `audit_seq` is the newer, and a gauge never goes back.
 *
 * A campaign that is over (ended or revoked) or gone from the store loses its series: otherwise a
 * node would keep every campaign it ever showed until it restarts, and /metrics and memory would
 * grow without bound. The campaigns it shows are read whatever their status, so a read sees them end.
 */
export class BudgetGauges {
  private readonly budget: Gauge<'campaign_id' | 'part'>;
  private readonly failures: Counter;
  private readonly refreshed: Gauge;
  /** Tracked campaigns: the audit_seq of the figures each one's gauges show. */
  private readonly shown_seq = new Map<string, number>();
  /**
   * Campaigns whose series were dropped: the audit_seq then, oldest first. An older figure of one
   * (a replay, a read that began before it ended) brings no series back. Past the bound, a forgotten
   * one's replay may show its old figures until the next read drops them again.
   */
  private readonly dropped_seq = new Lru<string, number>(campaigns_dropped_max);
  private read_at_ms = Number.NEGATIVE_INFINITY;
  private reading: Promise<void> | null = null;
  private failing = false;

  constructor(
    registry: Registry,
    private readonly source: BudgetSource,
  ) {
    const registers = [registry];
    // prom-client reads every metric at once: all three wait for the same read.
    const collect = () => this.refresh();
    this.budget = new Gauge({
      name: 'vouchsafe_campaign_budget_minor',
      help: 'Budget of a campaign by part (total, reserved, spent, available), in minor units, as the store holds it',
      labelNames: ['campaign_id', 'part'],
      registers,
      collect,
    });
    this.failures = new Counter({
      name: 'vouchsafe_campaign_budget_refresh_failures_total',
      help: 'Reads of the campaign budgets from the store that failed (the gauges kept their last figures)',
      registers,
      collect,
    });
    this.refreshed = new Gauge({
      name: 'vouchsafe_campaign_budget_refreshed_timestamp_seconds',
      help: 'When the last read of the campaign budgets from the store that succeeded began (unix seconds)',
      registers,
      collect,
    });
  }

  /**
   * Shows these figures unless the campaign's gauges show them or newer ones already (one audit_seq,
   * one set of figures: a read that finds nothing new sets no gauge), or it is past the bound. Figures
   * of a campaign that is over drop its series.
   */
  observe(b: CampaignBudget): void {
    const seen = this.shown_seq.get(b.id) ?? this.dropped_seq.peek(b.id);
    if (seen !== undefined && seen >= b.audit_seq) return;
    if (isOver(b.status)) {
      this.drop(b.id, b.audit_seq);
      return;
    }
    if (!this.shown_seq.has(b.id) && this.shown_seq.size >= campaigns_tracked_max) return;
    this.dropped_seq.delete(b.id);
    this.shown_seq.set(b.id, b.audit_seq);
    const value: Record<(typeof budgetParts)[number], number> = {
      total: b.budget_minor,
      reserved: b.reserved_minor,
      spent: b.spent_minor,
      available: availableMinor(b),
    };
    for (const part of budgetParts) this.budget.set({ campaign_id: b.id, part }, value[part]);
  }

  /** Removes the campaign's series and remembers up to which audit_seq it is dropped. */
  private drop(campaign_id: string, audit_seq: number): void {
    this.shown_seq.delete(campaign_id);
    for (const part of budgetParts) this.budget.remove({ campaign_id, part });
    this.dropped_seq.set(campaign_id, audit_seq);
  }

  /** Before a scrape renders the gauges: joins the read in flight, or starts one when the last is too old. Never throws. */
  private async refresh(): Promise<void> {
    const now_ms = this.source.clock.now();
    const age_ms = now_ms - this.read_at_ms;
    if (this.reading === null && age_ms >= 0 && age_ms < limits.metrics_budget_refresh_ms) return;
    // A callback clears it, so after this assignment even when the read fails at once.
    this.reading ??= this.read(now_ms).finally(() => {
      this.reading = null;
    });
    await waitAtMost(this.reading, limits.metrics_budget_wait_ms_max);
  }

  /**
   * Drops the series of the campaigns asked for that the read did not find. No more are asked for
   * than the limit (shown_seq is bounded by it), so a missing one is gone from the store.
   */
  private dropGone(ids: string[], found: CampaignBudget[]): void {
    const found_ids = new Set(found.map((b) => b.id));
    for (const id of ids) {
      const shown = this.shown_seq.get(id);
      if (shown !== undefined && !found_ids.has(id)) this.drop(id, shown);
    }
  }

  private async read(now_ms: number): Promise<void> {
    try {
      // The tracked ones first, whatever their status: the read finds each one live, over, or gone.
      const ids = [...this.shown_seq.keys()];
      const budgets = await this.source.store.campaignBudgets({ ids, limit: campaigns_tracked_max });
      for (const b of budgets) this.observe(b);
      this.dropGone(ids, budgets);
      this.refreshed.set(now_ms / 1000);
      if (this.failing) this.source.log?.info('campaign budget gauges read from the store again');
      this.failing = false;
    } catch (err) {
      this.failures.inc();
      if (!this.failing)
        this.source.log?.warn({ err }, 'campaign budget gauges: store read failed, keeping the last figures');
      this.failing = true;
    }
    this.read_at_ms = now_ms;
  }
}
