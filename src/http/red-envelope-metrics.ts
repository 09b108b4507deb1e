import { Counter, Gauge, type Registry } from 'prom-client';
import type { Campaign } from '../domain/campaign.ts';
import { remainingMinor } from '../domain/red-envelope-campaign.ts';
import type { Engine } from '../engine/engine.ts';

/** Envelopes with a remaining gauge; past this many, new ones are left out (bounded cardinality). */
const envelopes_tracked_max = 10_000;

/** Grabs by outcome and the money left in each envelope, on the app's registry. */
export class RedEnvelopeMetrics {
  private readonly grabs: Counter<'outcome'>;
  private readonly remaining: Gauge<'envelope_id'>;
  private readonly tracked = new Set<string>();

  constructor(registry: Registry, engine: Engine) {
    const registers = [registry];
    this.grabs = new Counter({
      name: 'vouchsafe_red_envelope_grabs_total',
      help: 'Red-envelope grabs by outcome: grabbed, or the rejection code',
      labelNames: ['outcome'],
      registers,
    });
    this.remaining = new Gauge({
      name: 'vouchsafe_red_envelope_remaining_minor',
      help: 'Money still in a red envelope (total - grabbed - refunded), in minor units',
      labelNames: ['envelope_id'],
      registers,
    });
    engine.onCommit((c) => this.observe(c));
  }

  grab(outcome: string): void {
    this.grabs.inc({ outcome });
  }

  /**
   * A creation answer, which may be an Idempotency-Key replay of the envelope as first created:
   * an envelope this process already tracks keeps its newer figure (from onCommit).
   */
  observeCreated(c: Campaign): void {
    if (c.red_envelope && this.tracked.has(c.red_envelope.id)) return;
    this.observe(c);
  }

  observe(c: Campaign): void {
    const env = c.red_envelope;
    if (!env) return;
    if (!this.tracked.has(env.id)) {
      if (this.tracked.size >= envelopes_tracked_max) return;
      this.tracked.add(env.id);
    }
    this.remaining.set({ envelope_id: env.id }, remainingMinor(env));
  }
}
