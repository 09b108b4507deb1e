import type { Alert, Breakdown, Incident, IncidentStatus, MemberOutcome } from '../../domain/incident.ts';
import type { BatchWrites, ListQuery, OutboxEvent, Page, SizedListQuery } from '../port.ts';
import type {
  IncidentFence,
  IncidentFenceLoad,
  IncidentLease,
  IncidentMember,
  IncidentReportRow,
  MakePlatformAudit,
  ScopeFilter,
} from '../port-incidents.ts';
import type { Db, Query } from './pg-batch.ts';
import { type Write, withPlatformAudit } from './pg-platform.ts';
import { int, type Row } from './rows.ts';
import { sizedPage } from './sized-page.ts';

/** Scope filters as bound parameters $n..$n+2: merchants (text[] or null), from, to. */
function scopeSql(n: number): string {
  return `($${n}::text[] IS NULL OR merchant_id = ANY($${n}::text[]))
    AND ($${n + 1}::bigint IS NULL OR created_at_ms >= $${n + 1}) AND ($${n + 2}::bigint IS NULL OR created_at_ms < $${n + 2})`;
}

function scopeArgs(f: ScopeFilter): unknown[] {
  return [f.merchant_ids, f.from_ms, f.to_ms];
}

/** The lease columns an incident is stored with: held while opening or resolving, none otherwise. */
function leaseArgs(incident: Incident, lease: IncidentLease): [string | null, number | null] {
  const working = incident.status === 'opening' || incident.status === 'resolving';
  return working ? [lease.owner, lease.until_ms] : [null, null];
}

const sql = {
  alertInsert: `INSERT INTO alerts (id, campaign_id, created_at_ms, doc)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`,
  members: `INSERT INTO incident_redemptions (incident_id, campaign_id, redemption_id)
    SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`,
  revoked: `INSERT INTO incident_revocations (incident_id, campaign_id, coupons, at_ms) VALUES ($1, $2, $3, $4)
    ON CONFLICT (incident_id, campaign_id) DO UPDATE
    SET coupons = incident_revocations.coupons + excluded.coupons, at_ms = excluded.at_ms`,
  released: `INSERT INTO incident_releases (incident_id, campaign_id, holds, discount_minor) VALUES ($1, $2, $3, $4)
    ON CONFLICT (incident_id, campaign_id) DO UPDATE SET holds = incident_releases.holds + excluded.holds,
    discount_minor = incident_releases.discount_minor + excluded.discount_minor`,
  outcomes: `UPDATE incident_redemptions SET outcome = $4
    WHERE incident_id = $1 AND campaign_id = $2 AND redemption_id = ANY($3::text[])`,
  outboxInsert: "INSERT INTO outbox (id, type, data, created_at_ms) VALUES ($1, 'batch', $2, $3)",
  incidentInsert: `INSERT INTO incidents (id, status, created_at_ms, doc, lease_owner, lease_until_ms)
    VALUES ($1, $2, $3, $4, $5, $6)`,
  incidentUpdate: `UPDATE incidents SET status = $1, doc = $2, lease_owner = $3, lease_until_ms = $4
    WHERE id = $5 AND status = $6 AND lease_owner = $7`,
  // One statement: under READ COMMITTED a concurrent claimer waits for the row and then re-checks
  // the lease on the version the winner wrote, so exactly one claim succeeds.
  incidentClaim: `UPDATE incidents SET status = $1, doc = $2, lease_owner = $3, lease_until_ms = $4
    WHERE id = $5 AND status = $6 AND (lease_until_ms IS NULL OR lease_until_ms <= $7)`,
  stuck: `SELECT id FROM incidents WHERE status IN ('opening', 'resolving')
    AND (lease_until_ms IS NULL OR lease_until_ms <= $1) ORDER BY id LIMIT $2`,
  fence: 'SELECT id, status, lease_owner FROM incidents WHERE id = ANY($1::text[])',
  // Unresolved incidents are few (people open them), and the status index finds them.
  pausing: `SELECT id FROM incidents WHERE status IN ('opening', 'open', 'resolving')
    AND (doc::jsonb -> 'actions') ? 'pause_campaigns'
    AND ((doc::jsonb -> 'campaign_ids') ? $1::text OR (doc::jsonb #> '{scope,campaign_ids}') ? $1::text)
    ORDER BY id`,
  pending: `SELECT redemption_id FROM incident_redemptions
    WHERE incident_id = $1 AND campaign_id = $2 AND redemption_id = ANY($3::text[]) AND outcome IS NULL`,
} as const;

/** The incident ops of a batch, inside its transaction: at most one statement per kind. */
export async function applyIncidentWrites(db: Db, w: BatchWrites): Promise<void> {
  const campaign_id = w.campaign.id;
  const alerts: Alert[] = [];
  for (const op of w.bulk) {
    if (op.kind === 'insert_alert') alerts.push(op.alert);
    else if (op.kind === 'incident_members') {
      await db.query(sql.members, [op.incident_id, campaign_id, op.redemption_ids]);
    } else if (op.kind === 'incident_outcomes') {
      await db.query(sql.outcomes, [op.incident_id, campaign_id, op.redemption_ids, op.outcome]);
    } else if (op.kind === 'incident_revoked') {
      await db.query(sql.revoked, [op.incident_id, campaign_id, op.coupons, op.at_ms]);
    } else if (op.kind === 'incident_released') {
      await db.query(sql.released, [op.incident_id, campaign_id, op.holds, op.discount_minor]);
    }
  }
  if (alerts.length === 0) return;
  const cols = [alerts.map((a) => a.id), alerts.map((a) => a.campaign_id), alerts.map((a) => a.created_at_ms)];
  await db.query(sql.alertInsert, [...cols, alerts.map((a) => JSON.stringify(a))]);
}

/** Each incident's fence for a batch, inside its transaction (under the campaign's lock). */
export async function loadFences(
  db: Db,
  campaign_id: string,
  loads: readonly IncidentFenceLoad[],
): Promise<Map<string, IncidentFence>> {
  const out = new Map<string, IncidentFence>();
  const rows = (await db.query<Row>(sql.fence, [loads.map((l) => l.incident_id)])).rows;
  for (const r of rows) {
    const lease_owner = r.lease_owner === null ? null : String(r.lease_owner);
    out.set(String(r.id), { status: String(r.status) as IncidentStatus, lease_owner, pending: new Set() });
  }
  for (const load of loads) {
    const fence = out.get(load.incident_id);
    if (!fence || load.redemption_ids.length === 0) continue;
    const pending = await db.query<Row>(sql.pending, [load.incident_id, campaign_id, load.redemption_ids]);
    for (const r of pending.rows) fence.pending.add(String(r.redemption_id));
  }
  return out;
}

/** The incidents holding the campaign paused, for a batch inside its transaction (see BatchLoad.pausing_incidents). */
export async function loadPausingIncidents(db: Db, campaign_id: string): Promise<string[]> {
  return (await db.query<Row>(sql.pausing, [campaign_id])).rows.map((r) => String(r.id));
}

export async function listAlerts(q: Query, list: ListQuery & { campaign_id?: string }): Promise<Page<Alert>> {
  const text = `SELECT doc FROM alerts WHERE ($1::text IS NULL OR campaign_id = $1) AND ($2::text IS NULL OR id < $2)
    ORDER BY id DESC LIMIT $3`;
  const rows = await q(text, [list.campaign_id ?? null, list.starting_after ?? null, list.limit + 1]);
  return {
    data: rows.slice(0, list.limit).map((r) => JSON.parse(String(r.doc)) as Alert),
    has_more: rows.length > list.limit,
  };
}

/** Events travel as one outbox row of type `batch`, as a campaign batch writes them. */
async function insertEvents(db: Db, events: OutboxEvent[]): Promise<void> {
  const first = events[0];
  if (first) await db.query(sql.outboxInsert, [first.id, JSON.stringify(events), first.created_at_ms]);
}

export async function insertIncident(
  write: Write,
  incident: Incident,
  lease: IncidentLease,
  audit: MakePlatformAudit,
  events: OutboxEvent[],
): Promise<void> {
  const doc = JSON.stringify(incident);
  const args = [incident.id, incident.status, incident.created_at_ms, doc, ...leaseArgs(incident, lease)];
  await withPlatformAudit(write, audit, async (db) => {
    await db.query(sql.incidentInsert, args);
    await insertEvents(db, events);
  });
}

const lostRace = new Error('incident moved meanwhile');

export function updateIncident(
  write: Write,
  incident: Incident,
  from: IncidentStatus,
  lease: IncidentLease,
  audit: MakePlatformAudit | null,
  events: OutboxEvent[],
): Promise<boolean> {
  const doc = JSON.stringify(incident);
  const args = [incident.status, doc, ...leaseArgs(incident, lease), incident.id, from, lease.owner];
  return moveIncident(write, sql.incidentUpdate, args, audit, events);
}

export function claimIncident(
  write: Write,
  incident: Incident,
  from: IncidentStatus,
  lease: IncidentLease,
  now_ms: number,
  audit: MakePlatformAudit | null,
): Promise<boolean> {
  const doc = JSON.stringify(incident);
  const args = [incident.status, doc, ...leaseArgs(incident, lease), incident.id, from, now_ms];
  return moveIncident(write, sql.incidentClaim, args, audit, []);
}

export async function stuckIncidents(q: Query, now_ms: number, limit: number): Promise<string[]> {
  return (await q(sql.stuck, [now_ms, limit])).map((r) => String(r.id));
}

/** Runs a conditional incident write with its events and audit entry, all or nothing. */
async function moveIncident(
  write: Write,
  text: string,
  args: unknown[],
  audit: MakePlatformAudit | null,
  events: OutboxEvent[],
): Promise<boolean> {
  const update = async (db: Db): Promise<boolean> => {
    const moved = ((await db.query(text, args)).rowCount ?? 0) > 0;
    if (moved) await insertEvents(db, events);
    return moved;
  };
  if (audit === null) return write(update);
  // An audit entry for a lost race would record something that did not happen: roll it back.
  try {
    return (
      await withPlatformAudit(write, audit, async (db) => {
        if (!(await update(db))) throw lostRace;
        return true;
      })
    ).value;
  } catch (err) {
    if (err === lostRace) return false;
    throw err;
  }
}

export async function getIncident(q: Query, id: string): Promise<Incident | null> {
  const row = (await q('SELECT doc FROM incidents WHERE id = $1', [id]))[0];
  return row ? (JSON.parse(String(row.doc)) as Incident) : null;
}

export async function listIncidents(q: Query, list: SizedListQuery): Promise<Page<Incident>> {
  const sql = 'SELECT id, doc FROM incidents WHERE ($1::text IS NULL OR id < $1) ORDER BY id DESC';
  const newest = { sql, args: [list.starting_after ?? null], order: 'id DESC', size: 'octet_length(doc)' };
  const page = await sizedPage(q, newest, list);
  return { data: page.data.map((r) => JSON.parse(String(r.doc)) as Incident), has_more: page.has_more };
}

export async function campaignsWithRedemptionsAt(q: Query, filter: ScopeFilter): Promise<string[]> {
  const text = `SELECT DISTINCT campaign_id FROM redemptions WHERE ${scopeSql(1)} ORDER BY campaign_id`;
  return (await q(text, scopeArgs(filter))).map((r) => String(r.campaign_id));
}

export async function liveRedemptionIdsInScope(
  q: Query,
  campaign_id: string,
  filter: ScopeFilter,
  after_id: string,
  limit: number,
): Promise<string[]> {
  const text = `SELECT id FROM redemptions WHERE campaign_id = $1 AND id > $2 AND status IN ('reserved', 'confirmed')
    AND ${scopeSql(3)} ORDER BY id LIMIT $6`;
  return (await q(text, [campaign_id, after_id, ...scopeArgs(filter), limit])).map((r) => String(r.id));
}

export async function incidentCampaigns(q: Query, incident_id: string): Promise<string[]> {
  const text = 'SELECT DISTINCT campaign_id FROM incident_redemptions WHERE incident_id = $1 ORDER BY campaign_id';
  return (await q(text, [incident_id])).map((r) => String(r.campaign_id));
}

export async function incidentMembers(
  q: Query,
  incident_id: string,
  campaign_id: string,
  after_id: string,
  limit: number,
): Promise<IncidentMember[]> {
  const text = `SELECT redemption_id, outcome FROM incident_redemptions
    WHERE incident_id = $1 AND campaign_id = $2 AND redemption_id > $3 ORDER BY redemption_id LIMIT $4`;
  return (await q(text, [incident_id, campaign_id, after_id, limit])).map((r) => ({
    redemption_id: String(r.redemption_id),
    outcome: r.outcome === null ? null : (String(r.outcome) as MemberOutcome),
  }));
}

export async function incidentMemberCampaigns(q: Query): Promise<Array<{ incident_id: string; campaign_id: string }>> {
  const text = 'SELECT DISTINCT incident_id, campaign_id FROM incident_redemptions ORDER BY incident_id, campaign_id';
  return (await q(text)).map((r) => ({ incident_id: String(r.incident_id), campaign_id: String(r.campaign_id) }));
}

export async function incidentResolvedTotals(
  q: Query,
  incident_id: string,
): Promise<{ count: number; discount_minor: number }> {
  const text = `SELECT COUNT(*) AS count, COALESCE(SUM(r.discount_minor), 0) AS discount_minor
    FROM incident_redemptions m JOIN redemptions r ON r.id = m.redemption_id
    WHERE m.incident_id = $1 AND m.outcome IN ('reversed', 'honoured')`;
  const row = (await q(text, [incident_id]))[0];
  return { count: row ? int(row.count) : 0, discount_minor: row ? int(row.discount_minor) : 0 };
}

export async function incidentReportRows(q: Query, incident_id: string): Promise<IncidentReportRow[]> {
  const text = `SELECT r.campaign_id, r.merchant_id, r.product_kind, COUNT(*) AS count, SUM(r.discount_minor) AS discount_minor
    FROM incident_redemptions m JOIN redemptions r ON r.id = m.redemption_id
    WHERE m.incident_id = $1 GROUP BY r.campaign_id, r.merchant_id, r.product_kind`;
  return (await q(text, [incident_id])).map((r: Row) => ({
    campaign_id: String(r.campaign_id),
    merchant_id: String(r.merchant_id),
    product_kind: String(r.product_kind),
    count: int(r.count),
    discount_minor: int(r.discount_minor),
  }));
}

export async function incidentRevocations(
  q: Query,
): Promise<Array<{ incident_id: string; campaign_id: string; coupons: number }>> {
  const text = 'SELECT incident_id, campaign_id, coupons FROM incident_revocations ORDER BY incident_id, campaign_id';
  return (await q(text)).map((r) => ({
    incident_id: String(r.incident_id),
    campaign_id: String(r.campaign_id),
    coupons: int(r.coupons),
  }));
}

/** Coupon statuses an incident revokes: active, and on hold (single-use only; see revokeCoupons). */
const unredeemed = "('active', 'reserved')";
/** Coupon statuses its bound must cover: those it revokes, and redeemed ones a reversal could restore. */
const covered = "('active', 'reserved', 'redeemed')";

export async function unredeemedCouponIds(
  q: Query,
  campaign_id: string,
  through_id: string,
  limit: number,
): Promise<string[]> {
  const text = `SELECT id FROM coupons WHERE campaign_id = $1 AND status IN ${unredeemed} AND id <= $2 LIMIT $3`;
  return (await q(text, [campaign_id, through_id, limit])).map((r) => String(r.id));
}

/** One max per campaign, so each is an index lookup ((campaign_id, id), (campaign_id, status)). */
const newestSql = {
  redemption: 'SELECT max(id) AS id FROM redemptions WHERE campaign_id = s.campaign_id',
  coupon: `SELECT max(id) AS id FROM coupons WHERE campaign_id = s.campaign_id AND status IN ${covered}`,
};

export async function newestId(
  q: Query,
  kind: 'redemption' | 'coupon',
  campaign_ids: readonly string[],
): Promise<string | null> {
  const text = `SELECT max(n.id) AS id FROM unnest($1::text[]) AS s(campaign_id) CROSS JOIN LATERAL (${newestSql[kind]}) n`;
  const id = (await q(text, [campaign_ids]))[0]?.id;
  return id === null || id === undefined ? null : String(id);
}

export async function incidentRevokedCoupons(q: Query, incident_id: string): Promise<number> {
  const row = (
    await q('SELECT COALESCE(SUM(coupons), 0) AS n FROM incident_revocations WHERE incident_id = $1', [incident_id])
  )[0];
  return row ? int(row.n) : 0;
}

export async function incidentReleasedHolds(q: Query, incident_id: string): Promise<Breakdown> {
  const text = `SELECT COALESCE(SUM(holds), 0) AS count, COALESCE(SUM(discount_minor), 0) AS discount_minor
    FROM incident_releases WHERE incident_id = $1`;
  const row = (await q(text, [incident_id]))[0];
  return row ? { count: int(row.count), discount_minor: int(row.discount_minor) } : { count: 0, discount_minor: 0 };
}

export async function incidentReleases(
  q: Query,
): Promise<Array<{ incident_id: string; campaign_id: string } & Breakdown>> {
  const text = `SELECT incident_id, campaign_id, holds, discount_minor FROM incident_releases
    ORDER BY incident_id, campaign_id`;
  return (await q(text)).map((r) => ({
    incident_id: String(r.incident_id),
    campaign_id: String(r.campaign_id),
    count: int(r.holds),
    discount_minor: int(r.discount_minor),
  }));
}
