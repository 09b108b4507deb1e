import type { Alert, Incident, IncidentStatus } from '../../domain/incident.ts';
import type { BatchWrites, ListQuery, OutboxEvent, Page } from '../port.ts';
import type { IncidentReportRow, MakePlatformAudit, ScopeFilter } from '../port-incidents.ts';
import type { Db, Query } from './pg-batch.ts';
import { type Write, withPlatformAudit } from './pg-platform.ts';
import { int, type Row } from './rows.ts';

/** Scope filters as bound parameters $n..$n+2: merchants (text[] or null), from, to. */
function scopeSql(n: number): string {
  return `($${n}::text[] IS NULL OR merchant_id = ANY($${n}::text[]))
    AND ($${n + 1}::bigint IS NULL OR created_at_ms >= $${n + 1}) AND ($${n + 2}::bigint IS NULL OR created_at_ms < $${n + 2})`;
}

function scopeArgs(f: ScopeFilter): unknown[] {
  return [f.merchant_ids, f.from_ms, f.to_ms];
}

const sql = {
  alertInsert: `INSERT INTO alerts (id, campaign_id, created_at_ms, doc)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`,
  members: `INSERT INTO incident_redemptions (incident_id, campaign_id, redemption_id)
    SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`,
  revoke: "UPDATE coupons SET status = 'revoked', updated_at_ms = $1 WHERE campaign_id = $2 AND status = 'active'",
  revoked: `INSERT INTO incident_revocations (incident_id, campaign_id, coupons, at_ms) VALUES ($1, $2, $3, $4)
    ON CONFLICT (incident_id, campaign_id) DO UPDATE
    SET coupons = incident_revocations.coupons + excluded.coupons, at_ms = excluded.at_ms`,
  outboxInsert: "INSERT INTO outbox (id, type, data, created_at_ms) VALUES ($1, 'batch', $2, $3)",
  incidentUpdate: 'UPDATE incidents SET status = $1, doc = $2 WHERE id = $3 AND status = $4',
} as const;

/** The incident ops of a batch, inside its transaction: at most one statement per kind. */
export async function applyIncidentWrites(db: Db, w: BatchWrites): Promise<void> {
  const campaign_id = w.campaign.id;
  const alerts: Alert[] = [];
  for (const op of w.bulk) {
    if (op.kind === 'insert_alert') alerts.push(op.alert);
    else if (op.kind === 'incident_members') {
      await db.query(sql.members, [op.incident_id, campaign_id, op.redemption_ids]);
    } else if (op.kind === 'incident_revoke_coupons') {
      const n = (await db.query(sql.revoke, [op.at_ms, campaign_id])).rowCount ?? 0;
      await db.query(sql.revoked, [op.incident_id, campaign_id, n, op.at_ms]);
    }
  }
  if (alerts.length === 0) return;
  const cols = [alerts.map((a) => a.id), alerts.map((a) => a.campaign_id), alerts.map((a) => a.created_at_ms)];
  await db.query(sql.alertInsert, [...cols, alerts.map((a) => JSON.stringify(a))]);
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
  audit: MakePlatformAudit,
  events: OutboxEvent[],
): Promise<void> {
  const text = 'INSERT INTO incidents (id, status, created_at_ms, doc) VALUES ($1, $2, $3, $4)';
  await withPlatformAudit(write, audit, async (db) => {
    await db.query(text, [incident.id, incident.status, incident.created_at_ms, JSON.stringify(incident)]);
    await insertEvents(db, events);
  });
}

const lostRace = new Error('incident moved meanwhile');

export async function updateIncident(
  write: Write,
  incident: Incident,
  from: IncidentStatus,
  audit: MakePlatformAudit | null,
  events: OutboxEvent[],
): Promise<boolean> {
  const update = async (db: Db): Promise<boolean> => {
    const args = [incident.status, JSON.stringify(incident), incident.id, from];
    const moved = ((await db.query(sql.incidentUpdate, args)).rowCount ?? 0) > 0;
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

export async function listIncidents(q: Query, list: ListQuery): Promise<Page<Incident>> {
  const text = 'SELECT doc FROM incidents WHERE ($1::text IS NULL OR id < $1) ORDER BY id DESC LIMIT $2';
  const rows = await q(text, [list.starting_after ?? null, list.limit + 1]);
  return {
    data: rows.slice(0, list.limit).map((r) => JSON.parse(String(r.doc)) as Incident),
    has_more: rows.length > list.limit,
  };
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
): Promise<string[]> {
  const text = `SELECT redemption_id FROM incident_redemptions
    WHERE incident_id = $1 AND campaign_id = $2 AND redemption_id > $3 ORDER BY redemption_id LIMIT $4`;
  return (await q(text, [incident_id, campaign_id, after_id, limit])).map((r) => String(r.redemption_id));
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

export async function incidentRevokedCoupons(q: Query, incident_id: string): Promise<number> {
  const row = (
    await q('SELECT COALESCE(SUM(coupons), 0) AS n FROM incident_revocations WHERE incident_id = $1', [incident_id])
  )[0];
  return row ? int(row.n) : 0;
}
