/**
 * A class of one campaign's coupons: the coupons alike in what their rows say and in how many of
 * their redemptions (of the same campaign) stand in each status. Counts of redemptions stop at 2
 * (2: two or more), so a campaign has a handful of classes however many coupons it holds.
 */
export interface CouponClass {
  /** As stored, not parsed: verify reports a value no coupon may have. */
  kind: string;
  status: string;
  /** The row names an owner (user_id). */
  owned: boolean;
  /** The row has a value of its own (value_minor). */
  valued: boolean;
  /** expires_at_ms is after the `ends_at_ms` asked about. */
  past_end: boolean;
  /** Its redemptions in `reserved`. */
  held: number;
  /** Its redemptions in `confirmed` or `frozen`. */
  spent: number;
  /** Its redemptions in `reversed`. */
  reversed: number;
  /** Coupons in the class. */
  coupons: number;
  /** The least coupon id in the class, to name one. */
  example_id: string;
}

/** A class of one campaign's redemptions by how they fit the coupon they name. */
export interface RedemptionFit {
  /** No coupon has its coupon_id, or that coupon is another campaign's. */
  no_coupon: boolean;
  /** Its coupon names an owner other than the redemption's user. */
  not_owner: boolean;
  /** Its coupon has a value of its own below the redemption's discount. */
  over_value: boolean;
  redemptions: number;
  /** The least redemption id in the class, to name one. */
  example_id: string;
}

/** A campaign's unredeemed coupons up to a bound (see CouponCheckStore.unredeemedThrough). */
export interface UnredeemedThrough {
  /** Coupons with id <= the bound in `active` or `reserved`. */
  coupons: number;
  /** The least of their ids, to name one; null when there are none. */
  first_id: string | null;
}

/** What verify reads of one coupon to hold it to the claim its chain recorded. */
export interface CouponFacts {
  id: string;
  campaign_id: string;
  kind: string;
  user_id: string | null;
  expires_at_ms: number;
  value_minor: number | null;
  /** As stored, not parsed. */
  status: string;
}

/**
 * Aggregates verify holds the coupon rows to, each one statement the database answers from its
 * own rows (it groups them, on disk if need be): what reaches the caller is a few classes, not
 * one row per coupon, so a campaign of millions of coupons costs no more memory than one of ten.
 */
export interface CouponCheckStore {
  /** The campaign's coupons by class (CouponClass), least example_id first. */
  couponClasses(campaign_id: string, ends_at_ms: number): Promise<CouponClass[]>;
  /** The campaign's redemptions by how they fit their coupon (RedemptionFit), least example_id first. */
  redemptionFits(campaign_id: string): Promise<RedemptionFit[]>;
  /**
   * How many of the campaign's coupons with id <= through_id (ids compared byte-wise) are `active`
   * or `reserved`, and the least of them: an incident's revocation leaves none (revoke_through_id).
   */
  unredeemedThrough(campaign_id: string, through_id: string): Promise<UnredeemedThrough>;
  /** The coupons of these ids that exist (by primary key; at most a thousand ids a call), in no order. */
  couponsById(ids: readonly string[]): Promise<CouponFacts[]>;
}
