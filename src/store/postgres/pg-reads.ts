import type { Campaign, CampaignStatus } from '../../domain/campaign.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import {
  type CampaignBudget,
  type ExposureRow,
  type ExposureSnapshot,
  type Page,
  type RedemptionQuery,
  releasedUnsummedSql,
  type SizedListQuery,
  type UsageKey,
} from '../port.ts';
import type { Query } from './pg-batch.ts';
import { campaignFromRow, int, type Row, redemptionCols, redemptionFromRow } from './rows.ts';
import { sizedPage } from './sized-page.ts';

export type { Query };

/** Rows visited per page by forEachRedemption: bounded memory for verify and incidents. */
export const redemption_page_rows_max = 5000;

/**
 * Cursor pagination, newest first; ids are time-ordered so `id` orders by creation. `size` is
 * the byte count of a row that `page_bytes_max` counts (sized-page.ts); `cols` must include `id`.
 */
async function page(
  q: Query,
  table: string,
  cols: string,
  list: SizedListQuery,
  where: Record<string, string | readonly string[]>,
  size = '0',
): Promise<Page<Row>> {
  const conds: string[] = [];
  const args: unknown[] = [];
  for (const [k, v] of Object.entries(where)) {
    args.push(v);
    conds.push(typeof v === 'string' ? `${k} = $${args.length}` : `${k} = ANY($${args.length}::text[])`);
  }
  if (list.starting_after) {
    args.push(list.starting_after);
    conds.push(`id < $${args.length}`);
  }
  const filter = conds.length ? `WHERE ${conds.join(' AND ')}` : '';
  const sql = `SELECT ${cols} FROM ${table} ${filter} ORDER BY id DESC`;
  return sizedPage(q, { sql, args, order: 'id DESC', size }, list);
}

export async function listCampaigns(
  q: Query,
  list: SizedListQuery & { status?: string | readonly string[] },
): Promise<Page<Campaign>> {
  const where: Record<string, string | readonly string[]> = list.status ? { status: list.status } : {};
  const rows = await page(q, 'campaigns', 'id, doc', list, where, 'octet_length(doc)');
  return { data: rows.data.map(campaignFromRow), has_more: rows.has_more };
}

/** Store.campaignBudgets: the limit applies before any doc is parsed (campaigns_status and the key find the rows). */
export async function campaignBudgets(q: Query, list: { ids: string[]; limit: number }): Promise<CampaignBudget[]> {
  const sql = `SELECT id, status, d->>'audit_seq' AS audit_seq, d->>'budget_minor' AS budget_minor,
      d->>'reserved_minor' AS reserved_minor, d->>'spent_minor' AS spent_minor
    FROM (SELECT id, status, doc, id = ANY($1::text[]) AS asked FROM campaigns
      WHERE status IN ('draft', 'pending_approval', 'active', 'paused') OR id = ANY($1::text[])
      ORDER BY asked DESC, id DESC LIMIT $2) c, LATERAL (SELECT c.doc::json AS d) j
    ORDER BY asked DESC, id DESC`;
  return (await q(sql, [list.ids, list.limit])).map((r) => ({
    id: String(r.id),
    status: String(r.status) as CampaignStatus,
    audit_seq: int(r.audit_seq),
    budget_minor: int(r.budget_minor),
    reserved_minor: int(r.reserved_minor),
    spent_minor: int(r.spent_minor),
  }));
}

export async function listRedemptions(q: Query, list: RedemptionQuery): Promise<Page<Redemption>> {
  const where: Record<string, string> = {};
  if (list.campaign_id) where.campaign_id = list.campaign_id;
  if (list.merchant_id) where.merchant_id = list.merchant_id;
  if (list.status) where.status = list.status;
  const rows = await page(q, 'redemptions', redemptionCols, list, where);
  return { data: rows.data.map(redemptionFromRow), has_more: rows.has_more };
}

export async function expiredHolds(
  q: Query,
  now_ms: number,
  limit: number,
): Promise<Array<{ id: string; campaign_id: string }>> {
  const sql = `SELECT id, campaign_id FROM redemptions WHERE status = 'reserved' AND hold_expires_at_ms <= $1
    ORDER BY hold_expires_at_ms LIMIT $2`;
  const rows = await q(sql, [now_ms, limit]);
  return rows.map((r) => ({ id: String(r.id), campaign_id: String(r.campaign_id) }));
}

export async function exposureRows(
  q: Query,
  campaign_id: string,
  by: 'merchant_id' | 'product_kind',
): Promise<ExposureRow[]> {
  const column = by === 'merchant_id' ? 'merchant_id' : 'product_kind';
  const sql = `SELECT ${column} AS key, status, COUNT(*) AS count, ${releasedUnsummedSql} AS discount_minor
    FROM redemptions WHERE campaign_id = $1 GROUP BY ${column}, status`;
  return (await q(sql, [campaign_id])).map((r) => ({
    key: String(r.key),
    status: r.status as RedemptionStatus,
    count: int(r.count),
    discount_minor: int(r.discount_minor),
  }));
}

/**
 * The campaign and its groups in one statement: under READ COMMITTED a statement reads one
 * snapshot, so a batch committing meanwhile is in all of it or in none.
 */
export async function exposure(q: Query, campaign_id: string): Promise<ExposureSnapshot | null> {
  const sql = `SELECT c.doc, (SELECT COALESCE(json_agg(g), '[]') FROM (
      SELECT GROUPING(merchant_id) AS by_kind, merchant_id, product_kind, status,
        COUNT(*)::text AS count, (${releasedUnsummedSql})::text AS discount_minor
      FROM redemptions WHERE campaign_id = c.id
      GROUP BY GROUPING SETS ((merchant_id, status), (product_kind, status))) g) AS groups
    FROM campaigns c WHERE c.id = $1`;
  const row = (await q(sql, [campaign_id]))[0];
  if (!row) return null;
  const out: ExposureSnapshot = { campaign: campaignFromRow(row), by_merchant: [], by_product_kind: [] };
  for (const g of row.groups as Row[]) {
    const by_kind = int(g.by_kind) === 1;
    (by_kind ? out.by_product_kind : out.by_merchant).push({
      key: String(by_kind ? g.product_kind : g.merchant_id),
      status: g.status as RedemptionStatus,
      count: int(g.count),
      discount_minor: int(g.discount_minor),
    });
  }
  return out;
}

export async function redemptionTotals(
  q: Query,
  campaign_id: string,
): Promise<Map<RedemptionStatus, { count: number; discount_minor: number }>> {
  const sql = `SELECT status, COUNT(*) AS count, ${releasedUnsummedSql} AS discount_minor
    FROM redemptions WHERE campaign_id = $1 GROUP BY status`;
  const out = new Map<RedemptionStatus, { count: number; discount_minor: number }>();
  for (const r of await q(sql, [campaign_id])) {
    out.set(r.status as RedemptionStatus, { count: int(r.count), discount_minor: int(r.discount_minor) });
  }
  return out;
}

export async function doubleRedeemedCoupons(q: Query, campaign_id: string): Promise<string[]> {
  const sql = `SELECT r.coupon_id AS id FROM redemptions r JOIN coupons c ON c.id = r.coupon_id
    WHERE r.campaign_id = $1 AND c.kind <> 'shared' AND r.status IN ('reserved', 'confirmed', 'frozen')
    GROUP BY r.coupon_id HAVING COUNT(*) > 1 ORDER BY r.coupon_id`;
  return (await q(sql, [campaign_id])).map((r) => String(r.id));
}

export async function usageCounts(q: Query, campaign_id: string): Promise<Map<UsageKey, number>> {
  const rows = await q('SELECT key, count FROM usage WHERE campaign_id = $1', [campaign_id]);
  return new Map(rows.map((r) => [String(r.key) as UsageKey, int(r.count)]));
}

/** Keyset paging by id, so a page costs the same at the end as at the start. */
export async function forEachRedemption(
  q: Query,
  campaign_id: string,
  visit: (page: Redemption[]) => void | Promise<void>,
): Promise<void> {
  const sql = `SELECT ${redemptionCols} FROM redemptions WHERE campaign_id = $1 AND id > $2 ORDER BY id LIMIT $3`;
  let after = '';
  for (;;) {
    const rows = (await q(sql, [campaign_id, after, redemption_page_rows_max])).map(redemptionFromRow);
    const last = rows[rows.length - 1];
    if (!last) return;
    await visit(rows);
    after = last.id;
  }
}
