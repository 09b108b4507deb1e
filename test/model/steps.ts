import fc from 'fast-check';
import type { CodeMode, RefDiscount } from './reference-types.ts';

/** A campaign for one sequence, in terms a generator can shrink; the driver turns it into API.md's body. */
export interface CampaignConfig {
  mode: CodeMode;
  discount: RefDiscount;
  min_spend_minor: number;
  product_kinds: string[];
  merchant_ids: string[] | null;
  /** Indexes of the sequence's users; null: public. */
  allowlist: number[] | null;
  /** Start relative to the clock at setup (negative: already running). */
  start_offset_ms: number;
  duration_ms: number;
  coupon_ttl_s: number | null;
  budget_minor: number;
  max_redemptions: number | null;
  per_user_limit: number | null;
  per_merchant_limit: number | null;
  per_user_per_minute: number | null;
  /** Codes generated up front in unique_codes mode. */
  unique_codes: number;
  /** red_envelope mode: packets, the smallest packet, and the grabbed coupons' life. */
  envelope: { count: number; min_amount_minor: number; coupon_ttl_s: number };
}

export interface OrderGen {
  n: number;
  merchant: number;
  amount_minor: number;
  kind: number;
  usd: boolean;
}

/**
 * One command of a sequence. Users, coupons and redemptions are indexes into what exists when
 * the step runs (modulo its size), so any sequence stays meaningful after shrinking.
 * `coupon: -1` is a code that names nothing; `idem`: an Idempotency-Key from a small pool.
 */
export type Step =
  | { t: 'claim'; user: number; idem: number | null }
  | { t: 'grab'; user: number; idem: number | null }
  | {
      t: 'redeem';
      user: number;
      /** Redeem as the coupon's owner when it has one (otherwise as `user`). */
      owner: boolean;
      coupon: number;
      by_id: boolean;
      order: OrderGen;
      confirm: boolean;
      idem: number | null;
    }
  | {
      t: 'validate';
      user: number;
      owner: boolean;
      coupon: number;
      by_id: boolean;
      order: OrderGen;
      idem: number | null;
    }
  | { t: 'confirm' | 'release'; r: number; idem: number | null }
  | { t: 'reverse'; r: number; restore: boolean; idem: number | null }
  | { t: 'pause' | 'resume' | 'revoke'; idem: number | null }
  | { t: 'incident'; merchants: number[] | null; actions: number; idem: number | null }
  | { t: 'resolve'; i: number; reverse: boolean; idem: number | null }
  | { t: 'advance'; ms: number }
  | { t: 'sweep' }
  | { t: 'retry'; back: number };

export const users_per_sequence = 4;
export const merchants = ['m0', 'm1', 'm2'];
export const kinds = ['merchandise', 'virtual', 'phone_top_up'];
const minute_ms = 60_000;

const discountArb: fc.Arbitrary<RefDiscount> = fc.oneof(
  fc.record({ type: fc.constant('fixed' as const), amount_minor: fc.integer({ min: 100, max: 3000 }) }),
  fc.record({
    type: fc.constant('percent' as const),
    percent_bp: fc.integer({ min: 500, max: 5000 }),
    max_discount_minor: fc.option(fc.integer({ min: 200, max: 3000 }), { nil: null }),
  }),
  fc.record({
    type: fc.constant('tiered' as const),
    tiers: fc.uniqueArray(
      fc.record({
        min_spend_minor: fc.integer({ min: 1000, max: 9000 }),
        amount_minor: fc.integer({ min: 100, max: 2500 }),
      }),
      { minLength: 1, maxLength: 3, selector: (t) => t.min_spend_minor },
    ),
  }),
);

function largestDiscount(d: RefDiscount): number {
  if (d.type === 'fixed') return d.amount_minor;
  if (d.type === 'percent') return d.max_discount_minor ?? 0;
  return Math.max(...d.tiers.map((t) => t.amount_minor));
}

const limitArb = (max: number) => fc.option(fc.integer({ min: 1, max }), { nil: null, freq: 2 });

export const configArb: fc.Arbitrary<CampaignConfig> = fc
  .record({
    mode: fc.constantFrom<CodeMode>('claim', 'claim', 'claim', 'shared_code', 'unique_codes', 'red_envelope'),
    discount: discountArb,
    min_spend_minor: fc.constantFrom(0, 1000, 3000, 5000),
    product_kinds: fc.oneof(
      { arbitrary: fc.subarray(kinds.slice(1)).map((more) => [kinds[0] ?? 'merchandise', ...more]), weight: 6 },
      { arbitrary: fc.subarray(kinds, { minLength: 1 }), weight: 1 },
    ),
    merchant_ids: fc.option(fc.subarray(merchants, { minLength: 1 }), { nil: null, freq: 5 }),
    allowlist: fc.option(fc.subarray([0, 1, 2, 3], { minLength: 1 }), { nil: null, freq: 5 }),
    start_offset_ms: fc.oneof(
      { arbitrary: fc.constant(-minute_ms), weight: 6 },
      { arbitrary: fc.integer({ min: 1, max: 30 }).map((m) => m * minute_ms), weight: 1 },
    ),
    duration_ms: fc.integer({ min: 1, max: 8 }).map((h) => h * 60 * minute_ms),
    coupon_ttl_s: fc.option(
      fc.integer({ min: 10, max: 240 }).map((m) => m * 60),
      { nil: null },
    ),
    budget_minor: fc.integer({ min: 500, max: 20_000 }),
    max_redemptions: limitArb(6),
    per_user_limit: limitArb(3),
    per_merchant_limit: limitArb(4),
    per_user_per_minute: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null, freq: 4 }),
    unique_codes: fc.integer({ min: 2, max: 5 }),
    envelope: fc.record({
      count: fc.integer({ min: 1, max: 5 }),
      min_amount_minor: fc.integer({ min: 1, max: 100 }),
      coupon_ttl_s: fc.integer({ min: 10, max: 240 }).map((m) => m * 60),
    }),
  })
  .map((c) => ({ ...c, budget_minor: Math.max(c.budget_minor, largestDiscount(c.discount)) }));

const idemArb = fc.option(fc.nat(3), { nil: null, freq: 2 });
const userArb = fc.nat(users_per_sequence - 1);
const ownerArb = fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 });
const couponArb = fc.oneof({ arbitrary: fc.nat(20), weight: 12 }, { arbitrary: fc.constant(-1), weight: 1 });

const orderArb: fc.Arbitrary<OrderGen> = fc.record({
  n: fc.nat(9),
  merchant: fc.nat(merchants.length - 1),
  amount_minor: fc.oneof(
    { arbitrary: fc.integer({ min: 5000, max: 12_000 }), weight: 4 },
    { arbitrary: fc.integer({ min: 0, max: 12_000 }), weight: 2 },
    { arbitrary: fc.constantFrom(0, 999, 1000, 2999, 3000, 4999, 5000, 9000), weight: 1 },
  ),
  kind: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.nat(kinds.length - 1), weight: 1 }),
  usd: fc.oneof({ arbitrary: fc.constant(false), weight: 15 }, { arbitrary: fc.constant(true), weight: 1 }),
});

/** Step generators with their weights: checkout traffic dominates, kill switches are rare. */
export const stepArbs: { arbitrary: fc.Arbitrary<Step>; weight: number }[] = [
  { weight: 12, arbitrary: fc.record({ t: fc.constant('claim' as const), user: userArb, idem: idemArb }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('grab' as const), user: userArb, idem: idemArb }) },
  {
    weight: 16,
    arbitrary: fc.record({
      t: fc.constant('redeem' as const),
      user: userArb,
      owner: ownerArb,
      coupon: couponArb,
      by_id: fc.boolean(),
      order: orderArb,
      confirm: fc.boolean(),
      idem: idemArb,
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('validate' as const),
      user: userArb,
      owner: ownerArb,
      coupon: couponArb,
      by_id: fc.boolean(),
      order: orderArb,
      idem: idemArb,
    }),
  },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('confirm' as const), r: fc.nat(20), idem: idemArb }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('release' as const), r: fc.nat(20), idem: idemArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ t: fc.constant('reverse' as const), r: fc.nat(20), restore: fc.boolean(), idem: idemArb }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constantFrom('pause' as const, 'resume' as const), idem: idemArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('revoke' as const), idem: idemArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      ms: fc.oneof(
        fc.integer({ min: 1, max: 10 }).map((s) => s * 1000),
        fc.integer({ min: 1, max: 120 }).map((m) => m * minute_ms),
      ),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ t: 'sweep' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('incident' as const),
      merchants: fc.option(fc.subarray([0, 1, 2], { minLength: 1 }), { nil: null }),
      actions: fc.integer({ min: 0, max: 7 }),
      idem: idemArb,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('resolve' as const), i: fc.nat(3), reverse: fc.boolean(), idem: idemArb }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('retry' as const), back: fc.nat(3) }) },
];
