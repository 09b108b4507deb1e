import type Database from 'better-sqlite3';
import type { LiveMax } from '../../domain/campaign-change.ts';
import type { BatchWrites } from '../port.ts';

type Row = Record<string, unknown>;

const live = "status IN ('reserved', 'confirmed', 'frozen')";

/** The batch-side work of a campaign change (port-campaign-change.ts), inside the batch transaction. */
export class SqliteCampaignChange {
  private readonly stmt;

  constructor(db: Database.Database) {
    const p = (sql: string) => db.prepare(sql);
    const maxOf = (col: string) =>
      `SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM redemptions WHERE campaign_id = @id AND ${live} GROUP BY ${col})`;
    this.stmt = {
      liveMax: p(`SELECT (${maxOf('user_id')}) AS user_max, (${maxOf('merchant_id')}) AS merchant_max`),
      usageDrop: p("DELETE FROM usage WHERE campaign_id = ? AND substr(key, 1, 6) <> 'order:'"),
      usageUsers: p(`INSERT INTO usage (campaign_id, key, count)
        SELECT campaign_id, 'user:' || user_id, count(*) FROM redemptions WHERE campaign_id = ? AND ${live} GROUP BY user_id`),
      usageClaims: p(`INSERT INTO usage (campaign_id, key, count)
        SELECT campaign_id, 'claim:' || user_id, count(*) FROM coupons WHERE campaign_id = ? AND kind = 'claimed' GROUP BY user_id`),
      usageMerchants: p(`INSERT INTO usage (campaign_id, key, count)
        SELECT campaign_id, 'merchant:' || merchant_id, count(*) FROM redemptions WHERE campaign_id = ? AND ${live} GROUP BY merchant_id`),
      retime: p(`UPDATE coupons SET
          expires_at_ms = CASE WHEN kind = 'claimed' AND @ttl_ms IS NOT NULL THEN min(created_at_ms + @ttl_ms, @ends) ELSE @ends END,
          updated_at_ms = @at
        WHERE campaign_id = @id AND (expires_at_ms > @ends OR expires_at_ms = @old_ends)`),
    };
  }

  liveMax(campaign_id: string): LiveMax {
    const row = this.stmt.liveMax.get({ id: campaign_id }) as Row;
    return { user: Number(row.user_max), merchant: Number(row.merchant_max) };
  }

  applyWrites(w: BatchWrites): void {
    const id = w.campaign.id;
    for (const op of w.bulk) {
      if (op.kind === 'recount_usage') {
        this.stmt.usageDrop.run(id);
        if (op.users) {
          this.stmt.usageUsers.run(id);
          this.stmt.usageClaims.run(id);
        }
        if (op.merchants) this.stmt.usageMerchants.run(id);
      } else if (op.kind === 'retime_coupons') {
        const args = { id, ends: op.ends_at_ms, old_ends: op.old_ends_at_ms, ttl_ms: op.coupon_ttl_ms, at: op.at_ms };
        this.stmt.retime.run(args);
      }
    }
  }
}
