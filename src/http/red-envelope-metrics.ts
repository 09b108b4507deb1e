import { Counter, Gauge, type Registry } from 'prom-client';
import type { Campaign } from '../domain/campaign.ts';
import { remainingMinor } from '../domain/red-envelope-campaign.ts';
import { Lru } from '../engine/detection/lru.ts';
import type { Engine } from '../engine/engine.ts';

/** Envelopes with a remaining gauge; past this many, finished ones make room (bounded cardinality). */
const envelopes_tracked_max = 10_000;

/**
 * Grabs by outcome and the money left in each envelope, on the app's registry.
 *
 * An envelope with nothing left (every packet grabbed, or the rest refunded after expiry) never
 * changes again; it keeps its series at 0 until room is needed, then the one that finished first
 * loses it, so a node that has seen more than the bound of envelopes still shows every live one.
 */
export class RedEnvelopeMetrics {
  private readonly grabs: Counter<'outcome'>;
  private readonly remaining: Gauge<'envelope_id'>;
  private readonly tracked = new Set<string>();
  /** Tracked envelopes with nothing left, in the order they finished. */
  private readonly finished = new Set<string>();
  /** Envelopes whose series made room, so that a replay of their creation brings none back (bounded). */
  private readonly dropped: Lru<string, true>;

  constructor(
    registry: Registry,
    engine: Pick<Engine, 'onCommit'>,
    private readonly tracked_max = envelopes_tracked_max,
  ) {
    this.dropped = new Lru(tracked_max);
    const registers = [registry];
    this.grabs = new Counter({
      name: 'vouchsafe_red_envelope_grabs_total',
      help: 'Red-envelope grabs by outcome: grabbed, or the error code answered',
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
   * an envelope this process already tracks (or dropped) keeps its newer figure (from onCommit).
   */
  observeCreated(c: Campaign): void {
    if (c.red_envelope && (this.tracked.has(c.red_envelope.id) || this.dropped.has(c.red_envelope.id))) return;
    this.observe(c);
  }

  observe(c: Campaign): void {
    const env = c.red_envelope;
    if (!env) return;
    const left = remainingMinor(env);
    // A finished envelope that made room stays out (its campaign still commits: its coupons redeem).
    if (left === 0 && this.dropped.has(env.id)) return;
    if (!this.tracked.has(env.id)) {
      if (this.tracked.size >= this.tracked_max && !this.makeRoom()) return;
      this.tracked.add(env.id);
      this.dropped.delete(env.id);
    }
    this.remaining.set({ envelope_id: env.id }, left);
    if (left === 0) this.finished.add(env.id);
  }

  /** Drops the series of the envelope that finished first; false when every tracked one is live. */
  private makeRoom(): boolean {
    const oldest = this.finished.values().next();
    if (oldest.done) return false;
    const id = oldest.value;
    this.finished.delete(id);
    this.tracked.delete(id);
    this.remaining.remove({ envelope_id: id });
    this.dropped.set(id, true);
    return true;
  }
}
