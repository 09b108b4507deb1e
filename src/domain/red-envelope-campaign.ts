import type { Campaign, CampaignSpec } from './campaign.ts';
import { checkCampaignOpen } from './eligibility.ts';
import { Rejection } from './errors.ts';

/**
 * A red envelope's own state, kept on its backing campaign's row: every grab already locks that row,
 * so the counters cost no extra lock and no extra write.
 */
export interface RedEnvelope {
  id: string;
  total_minor: number;
  count: number;
  min_amount_minor: number;
  expires_at_ms: number;
  /** Packets popped so far; the next grab takes packet `grabbed_count`. */
  grabbed_count: number;
  grabbed_minor: number;
  /** The remainder given back to the budget at expiry (0 until then). */
  refunded_minor: number;
  /** When the remainder was refunded; null while the envelope is not settled. */
  settled_at_ms: number | null;
  created_at_ms: number;
  /**
   * The secret key of the creation entry's packet digest (engine/audit.ts packetsDigest), so that nobody
   * who reads the audit log can find the split, and with it the next packet, by trying every one. Kept on
   * the campaign row only, never shown; missing on envelopes made before it existed.
   */
  packets_key?: string;
}

export type RedEnvelopeStatus = 'active' | 'exhausted' | 'expired';

/** What the grabbed coupons may buy; the rest of the backing campaign is fixed by the envelope. */
export interface RedEnvelopeCouponTerms {
  min_spend_minor: number;
  product_kinds: string[];
  coupon_ttl_s: number;
}

export interface RedEnvelopeTerms {
  currency: string;
  total_minor: number;
  count: number;
  min_amount_minor: number;
  expires_at_ms: number;
  coupon: RedEnvelopeCouponTerms;
}

/** Exhausted wins over expired: a fully grabbed envelope has nothing left to refund. */
export function envelopeStatus(env: RedEnvelope, now_ms: number): RedEnvelopeStatus {
  if (env.grabbed_count >= env.count) return 'exhausted';
  if (env.settled_at_ms !== null || now_ms >= env.expires_at_ms) return 'expired';
  return 'active';
}

/** Money still in the envelope: total = grabbed + remaining + refunded, always. */
export function remainingMinor(env: RedEnvelope): number {
  return env.total_minor - env.grabbed_minor - env.refunded_minor;
}

/**
 * The backing campaign: the budget is the total, one redemption per packet, one coupon per user, and it
 * lives until the last coupon a grab can issue has expired (a grab at expiry + the coupon ttl).
 */
export function envelopeCampaignSpec(
  id: string,
  t: RedEnvelopeTerms,
  largest_packet_minor: number,
  now_ms: number,
): CampaignSpec {
  return {
    name: `red envelope ${id}`,
    currency: t.currency,
    // Each coupon carries its own value; the campaign's discount is the largest one, so exposure reads right.
    discount: { type: 'fixed', amount_minor: largest_packet_minor },
    min_spend_minor: t.coupon.min_spend_minor,
    product_kinds: [...t.coupon.product_kinds],
    merchant_ids: null,
    audience: { type: 'public' },
    starts_at_ms: now_ms,
    ends_at_ms: t.expires_at_ms + t.coupon.coupon_ttl_s * 1000,
    coupon_ttl_s: t.coupon.coupon_ttl_s,
    budget_minor: t.total_minor,
    max_redemptions: t.count,
    per_user_limit: 1,
    per_merchant_limit: null,
    code_mode: 'red_envelope',
    code: null,
    auto_pause: true,
    velocity: null,
  };
}

/** Why `user_grabs` (this user's grabs so far) may not grab now, or null: expiry, campaign, user, emptiness. */
export function checkGrab(c: Campaign, env: RedEnvelope, user_grabs: number, now_ms: number): Rejection | null {
  if (env.settled_at_ms !== null || now_ms >= env.expires_at_ms) {
    return new Rejection('red_envelope_expired', 'this red envelope has expired');
  }
  const closed = checkCampaignOpen(c, now_ms);
  if (closed) return closed;
  if (user_grabs >= 1)
    return new Rejection('already_grabbed', 'this user has grabbed this envelope already', 'user_id');
  if (env.grabbed_count >= env.count) return new Rejection('red_envelope_empty', 'every packet has been grabbed');
  return null;
}
