import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Campaign } from '../domain/campaign.ts';
import type { Engine } from '../engine/engine.ts';
import { BudgetGauges, type BudgetSource } from './budget-gauges.ts';
import { LatencyHistogram } from './latency-histogram.ts';

/** Prometheus metrics of one app: request latency, redemptions by outcome, budget burn per campaign. */
export class HttpMetrics {
  readonly registry = new Registry();
  private readonly latency: LatencyHistogram;
  private readonly redemptions: Counter<'outcome'>;
  private readonly budget: BudgetGauges;

  constructor(engine: Engine, opts: { process_metrics?: boolean; log?: BudgetSource['log'] } = {}) {
    const registers = [this.registry];
    // Observed on every request, so not a prom-client Histogram (see LatencyHistogram); rendered first, as before.
    this.latency = new LatencyHistogram(
      'vouchsafe_http_request_duration_seconds',
      'HTTP request latency by route and status',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    );
    this.redemptions = new Counter({
      name: 'vouchsafe_redemptions_total',
      help: 'Redemption requests (creations and confirmations) by outcome: reserved, confirmed, or the error code answered',
      labelNames: ['outcome'],
      registers,
    });
    this.budget = new BudgetGauges(this.registry, {
      store: engine.store,
      clock: engine.clock,
      ...(opts.log ? { log: opts.log } : {}),
    });
    new Gauge({
      name: 'vouchsafe_engine_pending_commands',
      help: 'Commands queued or in flight in the engine',
      registers,
      collect() {
        this.set(engine.pending);
      },
    });
    if (opts.process_metrics) collectDefaultMetrics({ register: this.registry });
    engine.onCommit((c) => this.observeCampaign(c));
  }

  observeRequest(method: string, route: string, status_code: number, seconds: number): void {
    this.latency.observe(method, route, status_code, seconds);
  }

  redemption(outcome: string): void {
    this.redemptions.inc({ outcome });
  }

  /** A campaign as committed here or answered (maybe a replay of an older answer: see BudgetGauges). */
  observeCampaign(c: Campaign): void {
    this.budget.observe(c);
  }

  async text(): Promise<string> {
    return `${this.latency.text()}\n\n${await this.registry.metrics()}`;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
