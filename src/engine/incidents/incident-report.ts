import { limits } from '../../config/limits.ts';
import type { Breakdown, IncidentReport } from '../../domain/incident.ts';
import type { IncidentReportRow } from '../../store/port-incidents.ts';

type Group = { key: string } & Breakdown;

/** Sums rows per key, largest first; at most `groups_max` groups are listed (the totals cover all). */
function groupBy(rows: readonly IncidentReportRow[], key: (r: IncidentReportRow) => string): Group[] {
  const groups = new Map<string, Group>();
  for (const r of rows) {
    const k = key(r);
    const g = groups.get(k) ?? { key: k, count: 0, discount_minor: 0 };
    g.count += r.count;
    g.discount_minor += r.discount_minor;
    groups.set(k, g);
  }
  return [...groups.values()]
    .sort((a, b) => b.discount_minor - a.discount_minor || a.key.localeCompare(b.key))
    .slice(0, limits.incident_report_groups_max);
}

/**
 * The report of an incident from its frozen rows and released holds as the store sums them, exact
 * to the minor unit. The breakdowns cover the frozen rows, which are what the resolution decides on.
 */
export function incidentReport(
  rows: readonly IncidentReportRow[],
  released: Breakdown,
  revoked_coupons: number,
  paused_campaigns: number,
): IncidentReport {
  let frozen_count = 0;
  let frozen_minor = 0;
  for (const r of rows) {
    frozen_count += r.count;
    frozen_minor += r.discount_minor;
  }
  return {
    frozen_count,
    frozen_minor,
    released_holds_count: released.count,
    released_holds_minor: released.discount_minor,
    revoked_coupons,
    paused_campaigns,
    by_campaign: groupBy(rows, (r) => r.campaign_id).map(({ key, ...b }) => ({ campaign_id: key, ...b })),
    by_merchant: groupBy(rows, (r) => r.merchant_id).map(({ key, ...b }) => ({ merchant_id: key, ...b })),
    by_product_kind: groupBy(rows, (r) => r.product_kind).map(({ key, ...b }) => ({ product_kind: key, ...b })),
  };
}
