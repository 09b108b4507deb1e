import type { LiveMax } from '../../domain/campaign-change.ts';
import type { BatchWrites } from '../port.ts';
import type { Db } from './pg-batch.ts';
import { int, type Row } from './rows.ts';

const live = "status IN ('reserved', 'confirmed', 'frozen')";
const maxOf = (col: string) =>
  `SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM redemptions WHERE campaign_id = $1 AND ${live} GROUP BY ${col}) m`;

const sql = {
  liveMax: `SELECT (${maxOf('user_id')}) AS user_max, (${maxOf('merchant_id')}) AS merchant_max`,
  usageDrop: "DELETE FROM usage WHERE campaign_id = $1 AND substr(key, 1, 6) <> 'order:'",
  usageUsers: `INSERT INTO usage (campaign_id, key, count)
    SELECT campaign_id, 'user:' || user_id, count(*) FROM redemptions WHERE campaign_id = $1 AND ${live} GROUP BY campaign_id, user_id`,
  usageClaims: `INSERT INTO usage (campaign_id, key, count)
    SELECT campaign_id, 'claim:' || user_id, count(*) FROM coupons WHERE campaign_id = $1 AND kind = 'claimed' GROUP BY campaign_id, user_id`,
  usageMerchants: `INSERT INTO usage (campaign_id, key, count)
    SELECT campaign_id, 'merchant:' || merchant_id, count(*) FROM redemptions WHERE campaign_id = $1 AND ${live} GROUP BY campaign_id, merchant_id`,
  retime: `UPDATE coupons SET
      expires_at_ms = CASE WHEN kind = 'claimed' AND $4::bigint IS NOT NULL THEN LEAST(created_at_ms + $4::bigint, $2::bigint) ELSE $2::bigint END,
      updated_at_ms = $5
    WHERE campaign_id = $1 AND (expires_at_ms > $2::bigint OR expires_at_ms = $3::bigint)`,
} as const;

/** The most live redemptions of one user and of one merchant, inside the batch transaction. */
export async function loadLiveMax(db: Db, campaign_id: string): Promise<LiveMax> {
  const row = (await db.query<Row>(sql.liveMax, [campaign_id])).rows[0];
  return { user: int(row?.user_max ?? 0), merchant: int(row?.merchant_max ?? 0) };
}

/** The batch-side work of a campaign change (port-campaign-change.ts), after the row writes. */
export async function applyCampaignChangeWrites(db: Db, w: BatchWrites): Promise<void> {
  const id = w.campaign.id;
  for (const op of w.bulk) {
    if (op.kind === 'recount_usage') {
      await db.query(sql.usageDrop, [id]);
      if (op.users) {
        await db.query(sql.usageUsers, [id]);
        await db.query(sql.usageClaims, [id]);
      }
      if (op.merchants) await db.query(sql.usageMerchants, [id]);
    } else if (op.kind === 'retime_coupons') {
      await db.query(sql.retime, [id, op.ends_at_ms, op.old_ends_at_ms, op.coupon_ttl_ms, op.at_ms]);
    }
  }
}
