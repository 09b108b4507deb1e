export type CouponKind = 'claimed' | 'unique' | 'shared';
export type CouponStatus = 'active' | 'reserved' | 'redeemed' | 'revoked' | 'expired';

export interface Coupon {
  id: string;
  campaign_id: string;
  /** Owner of a claimed coupon; null for bearer codes (unique and shared). */
  user_id: string | null;
  code: string;
  kind: CouponKind;
  /** Stored status; 'expired' is derived from expires_at_ms, see couponStatusAt. */
  status: Exclude<CouponStatus, 'expired'>;
  expires_at_ms: number;
  /** A fixed value of its own (a red-envelope packet): the discount is min(value, order); null: the campaign's. */
  value_minor?: number | null;
  created_at_ms: number;
  updated_at_ms: number;
}

/** Shared codes serve many redemptions; every other coupon is single-use. */
export function isSingleUse(c: Coupon): boolean {
  return c.kind !== 'shared';
}

/**
 * Whether a request may name this coupon by its id. A unique code is a bearer secret (whoever
 * holds it redeems), while ids are not secret: they appear in redemptions, events and audit
 * entries, and one batch's ids differ only in a counter. So a unique coupon is named by its code
 * only; a claimed coupon (red-envelope packets too) is bound to its owner, and a shared code is
 * one public coupon, so their ids grant nothing more than their codes.
 */
export function nameableById(c: Coupon): boolean {
  return c.kind !== 'unique';
}

export function couponStatusAt(c: Coupon, now_ms: number): CouponStatus {
  if (c.status === 'active' && now_ms >= c.expires_at_ms) return 'expired';
  return c.status;
}

/** A claimed coupon lives coupon_ttl_s after its claim, never past the campaign's end. */
export function claimedCouponExpiry(claimed_at_ms: number, coupon_ttl_s: number | null, ends_at_ms: number): number {
  if (coupon_ttl_s === null) return ends_at_ms;
  return Math.min(claimed_at_ms + coupon_ttl_s * 1000, ends_at_ms);
}
