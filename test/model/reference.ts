/**
 * A reference model of one campaign's checkout life, written from API.md and DESIGN.md with
 * plain maps and no import from src/: the model-based tests run random command sequences
 * against the real HTTP server and against this, and compare every answer.
 *
 * Where API.md is silent the model writes down the choice the server made, so a change to
 * it shows up here as a disagreement to decide on purpose:
 * - checks run in the order a customer would want to hear them: campaign status and window,
 *   coupon (revoked, used, expired, owner), audience, order (currency, merchant, kind, minimum
 *   spend), a zero discount, then limits (one live redemption per order, max_redemptions, per
 *   user, per merchant, budget);
 * - an Idempotency-Key records an answer once the request was decided against the campaign
 *   (as Stripe: "results are saved once an endpoint started executing"), and so is a 404 for an
 *   unknown id or code; lockouts and velocity refusals (429) are answered before and not recorded;
 * - per_user_limit also caps claims per user; a paused campaign cannot confirm its holds.
 */

import { RefGuards } from './reference-guards.ts';
import {
  type CampaignStatus,
  type Decided,
  discountOf,
  type Expect,
  fail,
  type Idem,
  type RefCoupon,
  type RefOrder,
  type RefRedemption,
  type RefSpec,
  refusal,
  snapshot,
} from './reference-types.ts';

/** One campaign, its coupons, redemptions, counters, lockouts and idempotency records. */
export class RefModel {
  status: CampaignStatus = 'active';
  /** The spec's budget; a red envelope's shrinks by its refunded remainder at expiry. */
  budget_minor: number;
  reserved_minor = 0;
  spent_minor = 0;
  claimed = 0;
  readonly coupons = new Map<string, RefCoupon>();
  readonly redemptions = new Map<string, RefRedemption>();
  /**
   * Coupons that existed when an incident revoked the campaign's coupons (whatever their status
   * then): a reversal with restore_coupon revokes such a coupon instead of making it active.
   */
  readonly incidentCovered = new Set<string>();
  private readonly claimsByUser = new Map<string, number>();
  private readonly idem = new Map<string, { fingerprint: string }>();
  private readonly guards: RefGuards;
  private next_coupon = 0;
  private next_redemption = 0;

  constructor(
    readonly spec: RefSpec,
    public now_ms: number,
    ip: string,
  ) {
    this.guards = new RefGuards(ip, spec.per_user_per_minute);
    this.budget_minor = spec.budget_minor;
  }

  /** Coupons that exist from the start: the shared code's, or generated unique codes. */
  addCoupon(
    user_id: string | null,
    single_use: boolean,
    expires_at_ms: number,
    value_minor: number | null = null,
  ): RefCoupon {
    const c: RefCoupon = {
      ref: `c${this.next_coupon++}`,
      user_id,
      single_use,
      status: 'active',
      expires_at_ms,
      value_minor,
    };
    this.coupons.set(c.ref, c);
    return c;
  }

  get available_minor(): number {
    return this.budget_minor - this.reserved_minor - this.spent_minor;
  }

  private live(pred: (r: RefRedemption) => boolean = () => true): number {
    let n = 0;
    for (const r of this.redemptions.values()) if (r.status !== 'released' && r.status !== 'reversed' && pred(r)) n++;
    return n;
  }

  private campaignView(): Expect {
    const redeemed = [...this.redemptions.values()].filter(
      (r) => r.status === 'confirmed' || r.status === 'frozen',
    ).length;
    return {
      kind: 'campaign',
      status: this.status,
      budget_minor: this.budget_minor,
      reserved_minor: this.reserved_minor,
      spent_minor: this.spent_minor,
      claimed: this.claimed,
      redeemed,
    };
  }

  /** A known key: the first answer again for the same request, 409 for another. */
  private prior(idem: Idem | null): Expect | null {
    const prev = idem ? this.idem.get(idem.key) : undefined;
    if (!idem || !prev) return null;
    return prev.fingerprint === idem.fingerprint
      ? { kind: 'replay', key: idem.key }
      : fail(409, 'idempotency_key_reused');
  }

  /** Replays or refuses a known key; otherwise runs `decide` and records its answer when asked to. */
  idempotent(idem: Idem | null, decide: () => Decided): Expect {
    const prior = this.prior(idem);
    if (prior) return prior;
    const d = decide();
    if (idem && d.record) this.idem.set(idem.key, { fingerprint: idem.fingerprint });
    return d.expect;
  }

  /** True when the request's answer was recorded (the driver keeps the server's first answer then). */
  recorded(key: string): boolean {
    return this.idem.has(key);
  }

  private campaignOpen(): string | null {
    if (this.status === 'paused') return 'campaign_paused';
    if (this.status === 'revoked') return 'campaign_revoked';
    if (this.now_ms < this.spec.starts_at_ms) return 'campaign_not_started';
    if (this.now_ms >= this.spec.ends_at_ms) return 'campaign_ended';
    return null;
  }

  private inAudience(user_id: string): boolean {
    return this.spec.allowlist === null || this.spec.allowlist.includes(user_id);
  }

  claim(user_id: string, idem: Idem | null): Expect {
    return this.idempotent(idem, () => {
      const s = this.spec;
      if (s.code_mode !== 'claim') return { expect: fail(400, 'invalid_request'), record: true };
      const refused =
        this.campaignOpen() ??
        (this.inAudience(user_id) ? null : 'coupon_not_eligible_user') ??
        (s.per_user_limit !== null && (this.claimsByUser.get(user_id) ?? 0) >= s.per_user_limit
          ? 'per_user_limit_reached'
          : null);
      if (refused) return { expect: refusal(refused), record: true };
      const expires_at_ms =
        s.coupon_ttl_s === null ? s.ends_at_ms : Math.min(this.now_ms + s.coupon_ttl_s * 1000, s.ends_at_ms);
      const c = this.addCoupon(user_id, true, expires_at_ms);
      this.claimsByUser.set(user_id, (this.claimsByUser.get(user_id) ?? 0) + 1);
      this.claimed++;
      return { expect: { kind: 'coupon', coupon: snapshot(c) }, record: true };
    });
  }

  // ---- redemption rules ----

  /** Every rule of a redemption in order; the discount or the first refusal. */
  private evaluate(coupon: RefCoupon, user_id: string, order: RefOrder): { code: string } | { discount_minor: number } {
    const s = this.spec;
    const open = this.campaignOpen();
    if (open) return { code: open };
    if (coupon.user_id !== null && coupon.user_id !== user_id) return { code: 'coupon_not_eligible_user' };
    if (coupon.status === 'revoked') return { code: 'coupon_revoked' };
    if (coupon.single_use && (coupon.status === 'reserved' || coupon.status === 'redeemed')) {
      return { code: 'coupon_already_redeemed' };
    }
    if (this.now_ms >= coupon.expires_at_ms) return { code: 'coupon_expired' };
    if (!this.inAudience(user_id)) return { code: 'coupon_not_eligible_user' };
    if (order.currency !== s.currency) return { code: 'currency_mismatch' };
    if (s.merchant_ids !== null && !s.merchant_ids.includes(order.merchant_id))
      return { code: 'merchant_not_eligible' };
    if (!s.product_kinds.includes(order.product_kind)) return { code: 'product_kind_not_eligible' };
    const tier_min = s.discount.type === 'tiered' ? Math.min(...s.discount.tiers.map((t) => t.min_spend_minor)) : 0;
    if (order.amount_minor < Math.max(s.min_spend_minor, tier_min)) return { code: 'min_spend_not_met' };
    const d =
      coupon.value_minor === null
        ? discountOf(s.discount, order.amount_minor)
        : Math.min(coupon.value_minor, order.amount_minor);
    if (d === 0) return { code: 'min_spend_not_met' };
    // One discount per order (its merchant and id) and campaign.
    if (this.live((r) => r.order_id === order.id && r.merchant_id === order.merchant_id) > 0) {
      return { code: 'coupon_already_redeemed' };
    }
    if (s.max_redemptions !== null && this.live() >= s.max_redemptions) return { code: 'usage_limit_reached' };
    if (s.per_user_limit !== null && this.live((r) => r.user_id === user_id) >= s.per_user_limit) {
      return { code: 'per_user_limit_reached' };
    }
    if (
      s.per_merchant_limit !== null &&
      this.live((r) => r.merchant_id === order.merchant_id) >= s.per_merchant_limit
    ) {
      return { code: 'per_merchant_limit_reached' };
    }
    if (d > this.available_minor) return { code: 'budget_exhausted' };
    return { discount_minor: d };
  }

  /** `coupon` null: a code that names nothing (a guess or a typo). */
  redeem(user_id: string, coupon_ref: string | null, order: RefOrder, confirm: boolean, idem: Idem | null): Expect {
    const prior = this.prior(idem);
    if (prior) return prior;
    if (this.guards.lockedOut(user_id, this.now_ms)) return fail(429, 'too_many_attempts');
    const coupon = coupon_ref === null ? undefined : this.coupons.get(coupon_ref);
    if (!coupon) {
      this.guards.countFailure(user_id, this.now_ms);
      // The engine's answer too: recorded under the key (another body under it is then 409).
      if (idem) this.idem.set(idem.key, { fingerprint: idem.fingerprint });
      return fail(404, 'coupon_not_found');
    }
    const place = this.guards.take(user_id, this.now_ms);
    if (place === false) return fail(429, 'rate_limited');
    return this.idempotent(idem, () => {
      const verdict = this.evaluate(coupon, user_id, order);
      if ('code' in verdict) {
        if (place) this.guards.giveBack(place);
        return { expect: refusal(verdict.code), record: true };
      }
      const r: RefRedemption = {
        ref: `r${this.next_redemption++}`,
        coupon: coupon.ref,
        user_id,
        merchant_id: order.merchant_id,
        order_id: order.id,
        discount_minor: verdict.discount_minor,
        status: confirm ? 'confirmed' : 'reserved',
        hold_expires_at_ms: confirm ? null : this.now_ms + this.spec.hold_ms,
      };
      this.redemptions.set(r.ref, r);
      if (confirm) this.spent_minor += r.discount_minor;
      else this.reserved_minor += r.discount_minor;
      if (coupon.single_use) coupon.status = confirm ? 'redeemed' : 'reserved';
      return { expect: { kind: 'redemption', status: 201, redemption: snapshot(r) }, record: true };
    });
  }

  /** A dry run: 200 with the verdict; only a lockout is an error. Recorded like any answer. */
  validate(user_id: string, coupon_ref: string | null, order: RefOrder, idem: Idem | null): Expect {
    return this.idempotent(idem, () => {
      if (this.guards.lockedOut(user_id, this.now_ms)) return { expect: fail(429, 'too_many_attempts'), record: false };
      const coupon = coupon_ref === null ? undefined : this.coupons.get(coupon_ref);
      if (!coupon) {
        this.guards.countFailure(user_id, this.now_ms);
        return {
          expect: { kind: 'validation', valid: false, discount_minor: 0, reason: 'coupon_not_found' },
          record: true,
        };
      }
      const v = this.evaluate(coupon, user_id, order);
      const expect: Expect =
        'code' in v
          ? { kind: 'validation', valid: false, discount_minor: 0, reason: v.code }
          : { kind: 'validation', valid: true, discount_minor: v.discount_minor, reason: null };
      return { expect, record: true };
    });
  }

  /** confirm / release / reverse of a known redemption. */
  move(verb: 'confirm' | 'release' | 'reverse', ref: string, restore: boolean, idem: Idem | null): Expect {
    const r = this.redemptions.get(ref);
    if (!r) return fail(404, 'not_found');
    return this.idempotent(idem, () => {
      const refused = this.moveRefusal(verb, r);
      if (refused) return { expect: refusal(refused), record: true };
      const coupon = this.coupons.get(r.coupon);
      if (verb === 'confirm') {
        this.reserved_minor -= r.discount_minor;
        this.spent_minor += r.discount_minor;
        r.status = 'confirmed';
        r.hold_expires_at_ms = null;
        // A coupon an incident revoked under the hold stays revoked.
        if (coupon?.single_use && coupon.status === 'reserved') coupon.status = 'redeemed';
      } else if (verb === 'release') {
        this.releaseHold(r);
      } else {
        this.spent_minor -= r.discount_minor;
        r.status = 'reversed';
        if (restore && coupon?.single_use && coupon.status === 'redeemed') {
          const revoked = this.status === 'revoked' || this.incidentCovered.has(coupon.ref);
          coupon.status = revoked ? 'revoked' : 'active';
        }
      }
      return { expect: { kind: 'redemption', status: 200, redemption: snapshot(r) }, record: true };
    });
  }

  private moveRefusal(verb: 'confirm' | 'release' | 'reverse', r: RefRedemption): string | null {
    if (verb === 'reverse') return r.status === 'confirmed' || r.status === 'frozen' ? null : 'invalid_state';
    if (r.status !== 'reserved') return 'invalid_state';
    if (verb === 'release') return null;
    if (r.hold_expires_at_ms !== null && this.now_ms >= r.hold_expires_at_ms) return 'invalid_state';
    if (this.status === 'paused') return 'campaign_paused';
    if (this.status === 'revoked') return 'campaign_revoked';
    return null;
  }

  releaseHold(r: RefRedemption): void {
    this.reserved_minor -= r.discount_minor;
    r.status = 'released';
    r.hold_expires_at_ms = null;
    const coupon = this.coupons.get(r.coupon);
    if (coupon?.single_use && coupon.status === 'reserved') coupon.status = 'active';
  }

  /** pause (twice is fine), resume, revoke (ends it: holds released, unredeemed coupons revoked). */
  action(verb: 'pause' | 'resume' | 'revoke', idem: Idem | null): Expect {
    return this.idempotent(idem, () => {
      const from = this.status;
      const ok =
        (verb === 'pause' && from !== 'revoked') ||
        (verb === 'resume' && from === 'paused') ||
        (verb === 'revoke' && from !== 'revoked');
      if (!ok) return { expect: refusal('invalid_state'), record: true };
      if (verb === 'revoke') {
        for (const r of this.redemptions.values()) if (r.status === 'reserved') this.releaseHold(r);
        for (const c of this.coupons.values()) if (c.status === 'active') c.status = 'revoked';
      }
      this.status = verb === 'pause' ? 'paused' : verb === 'resume' ? 'active' : 'revoked';
      return { expect: this.campaignView(), record: true };
    });
  }

  /** Time passes; the sweeper releases every hold whose time is up. */
  advance(ms: number): void {
    this.now_ms += ms;
    for (const r of this.redemptions.values()) {
      if (r.status === 'reserved' && r.hold_expires_at_ms !== null && r.hold_expires_at_ms <= this.now_ms) {
        this.releaseHold(r);
      }
    }
  }

  /** The campaign as GET /v1/campaigns/{id} must show it. */
  view(): Expect {
    return this.campaignView();
  }
}
