import type { CouponClass, CouponFacts, RedemptionFit, UnredeemedThrough } from '../port-coupon-checks.ts';
import type { Query } from './pg-batch.ts';
import { int, type Row } from './rows.ts';

/**
 * The coupon aggregates of port-coupon-checks.ts, as in SQLite (sqlite/coupon-checks.ts): the
 * redemptions grouped per coupon, every coupon of the campaign joined to its group (a hash join,
 * no coupon_id index), grouped again into classes; only the classes leave the server.
 */
const sql = {
  classes: `WITH uses AS (
      SELECT coupon_id,
        LEAST(count(*) FILTER (WHERE status = 'reserved'), 2) AS held,
        LEAST(count(*) FILTER (WHERE status IN ('confirmed', 'frozen')), 2) AS spent,
        LEAST(count(*) FILTER (WHERE status = 'reversed'), 2) AS reversed
      FROM redemptions WHERE campaign_id = $1 GROUP BY coupon_id
    )
    SELECT c.kind AS kind, c.status AS status, c.user_id IS NOT NULL AS owned,
      c.value_minor IS NOT NULL AS valued, c.expires_at_ms > $2::bigint AS past_end,
      coalesce(u.held, 0) AS held, coalesce(u.spent, 0) AS spent, coalesce(u.reversed, 0) AS reversed,
      count(*) AS coupons, min(c.id) AS example_id
    FROM coupons c LEFT JOIN uses u ON u.coupon_id = c.id
    WHERE c.campaign_id = $1
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ORDER BY example_id`,
  fits: `SELECT (c.id IS NULL OR c.campaign_id <> r.campaign_id) AS no_coupon,
      coalesce(c.user_id <> r.user_id, false) AS not_owner,
      coalesce(r.discount_minor > c.value_minor, false) AS over_value,
      count(*) AS redemptions, min(r.id) AS example_id
    FROM redemptions r LEFT JOIN coupons c ON c.id = r.coupon_id
    WHERE r.campaign_id = $1
    GROUP BY 1, 2, 3
    ORDER BY example_id`,
  // coupons.id is COLLATE "C", so <= and min compare byte-wise, as in SQLite.
  unredeemed: `SELECT count(*) AS coupons, min(id) AS first_id FROM coupons
    WHERE campaign_id = $1 AND status IN ('active', 'reserved') AND id <= $2`,
  byId: 'SELECT id, campaign_id, kind, user_id, expires_at_ms, value_minor, status FROM coupons WHERE id = ANY($1::text[])',
} as const;

export async function couponClasses(q: Query, campaign_id: string, ends_at_ms: number): Promise<CouponClass[]> {
  return (await q(sql.classes, [campaign_id, ends_at_ms])).map((r: Row) => ({
    kind: String(r.kind),
    status: String(r.status),
    owned: r.owned === true,
    valued: r.valued === true,
    past_end: r.past_end === true,
    held: int(r.held),
    spent: int(r.spent),
    reversed: int(r.reversed),
    coupons: int(r.coupons),
    example_id: String(r.example_id),
  }));
}

export async function redemptionFits(q: Query, campaign_id: string): Promise<RedemptionFit[]> {
  return (await q(sql.fits, [campaign_id])).map((r: Row) => ({
    no_coupon: r.no_coupon === true,
    not_owner: r.not_owner === true,
    over_value: r.over_value === true,
    redemptions: int(r.redemptions),
    example_id: String(r.example_id),
  }));
}

export async function unredeemedThrough(q: Query, campaign_id: string, through_id: string): Promise<UnredeemedThrough> {
  const [r] = await q(sql.unredeemed, [campaign_id, through_id]);
  return {
    coupons: int(r?.coupons),
    first_id: r?.first_id === null || r?.first_id === undefined ? null : String(r.first_id),
  };
}

export async function couponsById(q: Query, ids: readonly string[]): Promise<CouponFacts[]> {
  return (await q(sql.byId, [ids])).map((r) => ({
    id: String(r.id),
    campaign_id: String(r.campaign_id),
    kind: String(r.kind),
    user_id: r.user_id === null ? null : String(r.user_id),
    expires_at_ms: int(r.expires_at_ms),
    value_minor: r.value_minor === null ? null : int(r.value_minor),
    status: String(r.status),
  }));
}
