import type { RefModel } from './reference.ts';
import { type Expect, type Idem, refusal, snapshot } from './reference-types.ts';

export interface EnvelopeTerms {
  total_minor: number;
  count: number;
  min_amount_minor: number;
  expires_at_ms: number;
  coupon_ttl_s: number;
}

/**
 * A red envelope backing the model's campaign (API.md "Red envelopes", DESIGN.md invariant 6):
 * each grab gives one user a fixed-value coupon; the sum of grabs never exceeds the total and
 * equals it once every packet is gone; one grab per user; after expiry the remainder is refunded
 * (the campaign's budget shrinks by it) once. The split is random, so the model checks each
 * amount against what a fair split allows and then takes the server's amount as given.
 */
export class RefEnvelope {
  grabbed_count = 0;
  grabbed_minor = 0;
  refunded_minor = 0;
  settled = false;
  private readonly grabbers = new Set<string>();

  constructor(
    private readonly m: RefModel,
    readonly terms: EnvelopeTerms,
  ) {}

  grab(user_id: string, idem: Idem | null): Expect {
    const m = this.m;
    return m.idempotent(idem, () => {
      const t = this.terms;
      const refused = (code: string) => ({ expect: refusal(code), record: true });
      if (this.settled || m.now_ms >= t.expires_at_ms) return refused('red_envelope_expired');
      if (m.status === 'paused') return refused('campaign_paused');
      if (m.status === 'revoked') return refused('campaign_revoked');
      if (this.grabbers.has(user_id)) return refused('already_grabbed');
      if (this.grabbed_count >= t.count) return refused('red_envelope_empty');
      const left = t.count - this.grabbed_count;
      const remaining = t.total_minor - this.grabbed_minor;
      const amount_max = remaining - t.min_amount_minor * (left - 1);
      const amount_min = left === 1 ? remaining : t.min_amount_minor;
      const expires_at_ms = Math.min(m.now_ms + t.coupon_ttl_s * 1000, m.spec.ends_at_ms);
      const coupon = m.addCoupon(user_id, true, expires_at_ms, 0);
      this.grabbers.add(user_id);
      this.grabbed_count++;
      m.claimed++;
      return { expect: { kind: 'grab', coupon: snapshot(coupon), amount_min, amount_max }, record: true };
    });
  }

  /** The server's amount for a grab the model accepted (already checked against the bounds). */
  grabbed(coupon_ref: string, amount_minor: number): void {
    const c = this.m.coupons.get(coupon_ref);
    if (c) c.value_minor = amount_minor;
    this.grabbed_minor += amount_minor;
  }

  /** The sweeper after expiry: the remainder goes back, once. */
  sweep(): void {
    if (this.settled || this.m.now_ms < this.terms.expires_at_ms) return;
    this.refunded_minor = this.terms.total_minor - this.grabbed_minor;
    this.m.budget_minor -= this.refunded_minor;
    this.settled = true;
  }

  /** GET /v1/red-envelopes/{id} as the model sees it. */
  view(): {
    grabbed_count: number;
    grabbed_minor: number;
    remaining_minor: number;
    refunded_minor: number;
    status: string;
  } {
    const t = this.terms;
    const status =
      this.grabbed_count >= t.count
        ? 'exhausted'
        : this.settled || this.m.now_ms >= t.expires_at_ms
          ? 'expired'
          : 'active';
    return {
      grabbed_count: this.grabbed_count,
      grabbed_minor: this.grabbed_minor,
      remaining_minor: t.total_minor - this.grabbed_minor - this.refunded_minor,
      refunded_minor: this.refunded_minor,
      status,
    };
  }
}
