import type Database from 'better-sqlite3';
import type {
  CouponCheckStore,
  CouponClass,
  CouponFacts,
  RedemptionFit,
  UnredeemedThrough,
} from '../port-coupon-checks.ts';

type Row = Record<string, unknown>;

/**
 * The coupon aggregates of port-coupon-checks.ts. The redemptions are grouped per coupon first (one
 * pass over the campaign's index), then every coupon of the campaign is joined to its group and the
 * result grouped again into classes: no index on coupon_id is needed (none exists; every batch would
 * write it), and only the classes leave SQLite.
 */
export class SqliteCouponChecks implements CouponCheckStore {
  private readonly stmt;

  constructor(db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    this.stmt = {
      classes: p(`WITH uses AS (
          SELECT coupon_id,
            min(sum(status = 'reserved'), 2) AS held,
            min(sum(status IN ('confirmed', 'frozen')), 2) AS spent,
            min(sum(status = 'reversed'), 2) AS reversed
          FROM redemptions WHERE campaign_id = @id GROUP BY coupon_id
        )
        SELECT c.kind AS kind, c.status AS status, c.user_id IS NOT NULL AS owned,
          c.value_minor IS NOT NULL AS valued, c.expires_at_ms > @ends AS past_end,
          coalesce(u.held, 0) AS held, coalesce(u.spent, 0) AS spent, coalesce(u.reversed, 0) AS reversed,
          count(*) AS coupons, min(c.id) AS example_id
        FROM coupons c LEFT JOIN uses u ON u.coupon_id = c.id
        WHERE c.campaign_id = @id
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        ORDER BY example_id`),
      fits: p(`SELECT (c.id IS NULL OR c.campaign_id <> r.campaign_id) AS no_coupon,
          coalesce(c.user_id <> r.user_id, 0) AS not_owner,
          coalesce(r.discount_minor > c.value_minor, 0) AS over_value,
          count(*) AS redemptions, min(r.id) AS example_id
        FROM redemptions r LEFT JOIN coupons c ON c.id = r.coupon_id
        WHERE r.campaign_id = ?
        GROUP BY 1, 2, 3
        ORDER BY example_id`),
      // Both statuses through coupons_campaign_status; ids compare BINARY (byte-wise).
      unredeemed: p(`SELECT count(*) AS coupons, min(id) AS first_id FROM coupons
        WHERE campaign_id = ? AND status IN ('active', 'reserved') AND id <= ?`),
      byId: p(`SELECT id, campaign_id, kind, user_id, expires_at_ms, value_minor, status FROM coupons
        WHERE id IN (SELECT value FROM json_each(?))`),
    };
  }

  async couponClasses(campaign_id: string, ends_at_ms: number): Promise<CouponClass[]> {
    return (this.stmt.classes.all({ id: campaign_id, ends: ends_at_ms }) as Row[]).map((r) => ({
      kind: String(r.kind),
      status: String(r.status),
      owned: r.owned === 1,
      valued: r.valued === 1,
      past_end: r.past_end === 1,
      held: Number(r.held),
      spent: Number(r.spent),
      reversed: Number(r.reversed),
      coupons: Number(r.coupons),
      example_id: String(r.example_id),
    }));
  }

  async redemptionFits(campaign_id: string): Promise<RedemptionFit[]> {
    return (this.stmt.fits.all(campaign_id) as Row[]).map((r) => ({
      no_coupon: r.no_coupon === 1,
      not_owner: r.not_owner === 1,
      over_value: r.over_value === 1,
      redemptions: Number(r.redemptions),
      example_id: String(r.example_id),
    }));
  }

  async unredeemedThrough(campaign_id: string, through_id: string): Promise<UnredeemedThrough> {
    const r = this.stmt.unredeemed.get(campaign_id, through_id) as Row;
    return { coupons: Number(r.coupons), first_id: r.first_id === null ? null : String(r.first_id) };
  }

  async couponsById(ids: readonly string[]): Promise<CouponFacts[]> {
    return (this.stmt.byId.all(JSON.stringify(ids)) as Row[]).map(factsOf);
  }
}

function factsOf(r: Row): CouponFacts {
  return {
    id: String(r.id),
    campaign_id: String(r.campaign_id),
    kind: String(r.kind),
    user_id: r.user_id === null ? null : String(r.user_id),
    expires_at_ms: Number(r.expires_at_ms),
    value_minor: r.value_minor === null ? null : Number(r.value_minor),
    status: String(r.status),
  };
}
