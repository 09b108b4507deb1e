/**
 * Batch writes of a campaign change (engine/update-handler.ts), applied in the campaign's
 * batch transaction after the row writes, so they see the rows as they are after it.
 */
export type CampaignChangeBulkOp =
  /**
   * Rebuilds the usage counters from the rows: `user:` (live redemptions) and `claim:`
   * (claimed coupons) when `users`, `merchant:` when `merchants`; every other counter of the
   * campaign is dropped. Needed when a limit is set: no counters are kept for an unset one.
   */
  | { kind: 'recount_usage'; users: boolean; merchants: boolean }
  /**
   * The campaign's end moved: coupons expiring after the new end now expire at it; coupons
   * that expired with the old end get the new one (claimed ones at most created + ttl).
   */
  | { kind: 'retime_coupons'; old_ends_at_ms: number; ends_at_ms: number; coupon_ttl_ms: number | null; at_ms: number };
