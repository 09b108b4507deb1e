/** Types of the reference model (reference.ts): written from API.md, independent of src/. */

export type RefDiscount =
  | { type: 'fixed'; amount_minor: number }
  | { type: 'percent'; percent_bp: number; max_discount_minor: number | null }
  | { type: 'tiered'; tiers: { min_spend_minor: number; amount_minor: number }[] };

export type CodeMode = 'claim' | 'shared_code' | 'unique_codes' | 'red_envelope';

export interface RefSpec {
  currency: string;
  discount: RefDiscount;
  min_spend_minor: number;
  product_kinds: string[];
  merchant_ids: string[] | null;
  /** null: public. */
  allowlist: string[] | null;
  starts_at_ms: number;
  ends_at_ms: number;
  coupon_ttl_s: number | null;
  budget_minor: number;
  max_redemptions: number | null;
  per_user_limit: number | null;
  per_merchant_limit: number | null;
  code_mode: CodeMode;
  /** Redemptions per user per UTC minute; null: none. */
  per_user_per_minute: number | null;
  hold_ms: number;
}

export type CouponStatus = 'active' | 'reserved' | 'redeemed' | 'revoked';
export type RedemptionStatus = 'reserved' | 'confirmed' | 'released' | 'reversed' | 'frozen';
export type CampaignStatus = 'active' | 'paused' | 'revoked';

export interface RefCoupon {
  ref: string;
  user_id: string | null;
  single_use: boolean;
  status: CouponStatus;
  expires_at_ms: number;
  /** A red-envelope packet's own value (the discount is min(value, order)); null: the campaign's discount. */
  value_minor: number | null;
}

export interface RefRedemption {
  ref: string;
  coupon: string;
  user_id: string;
  merchant_id: string;
  order_id: string;
  discount_minor: number;
  status: RedemptionStatus;
  hold_expires_at_ms: number | null;
}

export interface RefOrder {
  id: string;
  merchant_id: string;
  amount_minor: number;
  currency: string;
  product_kind: string;
}

/** What the server must answer. `replay`: byte for byte what it answered first under `key`. */
export type Expect =
  | { kind: 'error'; status: number; code: string }
  | { kind: 'replay'; key: string }
  | { kind: 'coupon'; coupon: RefCoupon }
  | { kind: 'redemption'; status: 200 | 201; redemption: RefRedemption }
  | { kind: 'validation'; valid: boolean; discount_minor: number; reason: string | null }
  | {
      kind: 'campaign';
      status: CampaignStatus;
      budget_minor: number;
      reserved_minor: number;
      spent_minor: number;
      claimed: number;
      redeemed: number;
    }
  | {
      kind: 'incident';
      ref: string;
      frozen_count: number;
      frozen_minor: number;
      released_holds_count: number;
      released_holds_minor: number;
      revoked_coupons: number;
      paused: number;
    }
  | { kind: 'resolved'; count: number; discount_minor: number }
  /** A grab: the amount is the server's random split, checked against what a fair split allows. */
  | { kind: 'grab'; coupon: RefCoupon; amount_min: number; amount_max: number };

/** The answer, and whether it is recorded under the request's Idempotency-Key. */
export interface Decided {
  expect: Expect;
  record: boolean;
}

export interface Idem {
  key: string;
  /** Equal fingerprints mean "the same request" (method, path, body). */
  fingerprint: string;
}

export const fail = (status: number, code: string): Expect => ({ kind: 'error', status, code });

const conflicts = new Set(['coupon_already_redeemed', 'invalid_state', 'already_grabbed']);

/** API.md: a used coupon, a wrong state, a second grab conflict (409); other rule refusals are 422. */
export const refusal = (code: string): Expect => fail(conflicts.has(code) ? 409 : 422, code);

export function snapshot<T extends object>(x: T): T {
  return { ...x };
}

export function discountOf(d: RefDiscount, order_minor: number): number {
  switch (d.type) {
    case 'fixed':
      return Math.min(d.amount_minor, order_minor);
    case 'percent': {
      const raw = Math.floor((order_minor * d.percent_bp) / 10_000);
      return Math.min(raw, d.max_discount_minor ?? raw, order_minor);
    }
    case 'tiered': {
      const met = d.tiers.filter((t) => order_minor >= t.min_spend_minor).map((t) => t.amount_minor);
      return Math.min(Math.max(0, ...met), order_minor);
    }
  }
}
