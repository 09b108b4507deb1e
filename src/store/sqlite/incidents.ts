import type Database from 'better-sqlite3';
import type { Alert, Incident, IncidentStatus } from '../../domain/incident.ts';
import type { BatchWrites, ListQuery, OutboxEvent, Page } from '../port.ts';
import type { IncidentReportRow, MakePlatformAudit, ScopeFilter } from '../port-incidents.ts';

type Row = Record<string, unknown>;
/** The adapter's platform-audit transaction: runs `body`, then appends the entry `make` links. */
type WithPlatformAudit = <T>(make: MakePlatformAudit, body: () => T) => { value: T };

const members_per_insert = 64;

function memberInsert(rows: number): string {
  const values = Array(rows).fill('(?, ?, ?)').join(', ');
  return `INSERT OR IGNORE INTO incident_redemptions (incident_id, campaign_id, redemption_id) VALUES ${values}`;
}

/** `merchant_id IN (json array)` etc.: one statement for any scope, parameters always bound. */
const scopeSql = `(? IS NULL OR merchant_id IN (SELECT value FROM json_each(?)))
  AND (? IS NULL OR created_at_ms >= ?) AND (? IS NULL OR created_at_ms < ?)`;

function scopeArgs(f: ScopeFilter): unknown[] {
  const merchants = f.merchant_ids === null ? null : JSON.stringify(f.merchant_ids);
  return [merchants, merchants, f.from_ms, f.from_ms, f.to_ms, f.to_ms];
}

/** Alerts, incidents and incident membership on SQLite. */
export class SqliteIncidents {
  private readonly stmt;

  constructor(
    private readonly db: Database.Database,
    private readonly withAudit: WithPlatformAudit,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.stmt = {
      alertInsert: p('INSERT INTO alerts (id, campaign_id, created_at_ms, doc) VALUES (?, ?, ?, ?)'),
      member: p(memberInsert(1)),
      members64: p(memberInsert(members_per_insert)),
      revoke: p("UPDATE coupons SET status = 'revoked', updated_at_ms = ? WHERE campaign_id = ? AND status = 'active'"),
      revoked: p(
        `INSERT INTO incident_revocations (incident_id, campaign_id, coupons, at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (incident_id, campaign_id) DO UPDATE SET coupons = coupons + excluded.coupons, at_ms = excluded.at_ms`,
      ),
      incidentInsert: p('INSERT INTO incidents (id, status, created_at_ms, doc) VALUES (?, ?, ?, ?)'),
      incidentUpdate: p('UPDATE incidents SET status = ?, doc = ? WHERE id = ? AND status = ?'),
      incidentGet: p('SELECT doc FROM incidents WHERE id = ?'),
      outboxInsert: p("INSERT INTO outbox (id, type, data, created_at_ms) VALUES (?, 'batch', ?, ?)"),
      liveInScope: p(
        `SELECT id FROM redemptions WHERE campaign_id = ? AND id > ? AND status IN ('reserved', 'confirmed')
         AND ${scopeSql} ORDER BY id LIMIT ?`,
      ),
      campaignsAt: p(`SELECT DISTINCT campaign_id FROM redemptions WHERE ${scopeSql} ORDER BY campaign_id`),
      campaigns: p('SELECT DISTINCT campaign_id FROM incident_redemptions WHERE incident_id = ? ORDER BY campaign_id'),
      members: p(
        `SELECT redemption_id FROM incident_redemptions WHERE incident_id = ? AND campaign_id = ? AND redemption_id > ?
         ORDER BY redemption_id LIMIT ?`,
      ),
      report: p(
        `SELECT r.campaign_id, r.merchant_id, r.product_kind, COUNT(*) AS count, SUM(r.discount_minor) AS discount_minor
         FROM incident_redemptions m JOIN redemptions r ON r.id = m.redemption_id
         WHERE m.incident_id = ? GROUP BY r.campaign_id, r.merchant_id, r.product_kind`,
      ),
      revokedTotal: p('SELECT COALESCE(SUM(coupons), 0) AS n FROM incident_revocations WHERE incident_id = ?'),
    };
  }

  /** The incident ops of a batch, inside its transaction. */
  applyWrites(w: BatchWrites): void {
    const campaign_id = w.campaign.id;
    for (const op of w.bulk) {
      if (op.kind === 'insert_alert') {
        const a = op.alert;
        this.stmt.alertInsert.run(a.id, a.campaign_id, a.created_at_ms, JSON.stringify(a));
      } else if (op.kind === 'incident_members') {
        this.insertMembers(op.incident_id, campaign_id, op.redemption_ids);
      } else if (op.kind === 'incident_revoke_coupons') {
        const n = this.stmt.revoke.run(op.at_ms, campaign_id).changes;
        this.stmt.revoked.run(op.incident_id, campaign_id, n, op.at_ms);
      }
    }
  }

  listAlerts(q: ListQuery & { campaign_id?: string }): Page<Alert> {
    const campaign = q.campaign_id ?? null;
    const after = q.starting_after ?? null;
    const sql = `SELECT doc FROM alerts WHERE (? IS NULL OR campaign_id = ?) AND (? IS NULL OR id < ?)
      ORDER BY id DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(campaign, campaign, after, after, q.limit + 1) as Row[];
    return {
      data: rows.slice(0, q.limit).map((r) => JSON.parse(String(r.doc)) as Alert),
      has_more: rows.length > q.limit,
    };
  }

  insertIncident(incident: Incident, audit: MakePlatformAudit, events: OutboxEvent[]): void {
    this.withAudit(audit, () => {
      this.stmt.incidentInsert.run(incident.id, incident.status, incident.created_at_ms, JSON.stringify(incident));
      this.insertEvents(events);
    });
  }

  updateIncident(incident: Incident, from: IncidentStatus, audit: MakePlatformAudit | null, events: OutboxEvent[]) {
    const update = (): boolean => {
      const doc = JSON.stringify(incident);
      const moved = this.stmt.incidentUpdate.run(incident.status, doc, incident.id, from).changes > 0;
      if (moved) this.insertEvents(events);
      return moved;
    };
    if (audit === null) return this.db.transaction(update).immediate();
    // An audit entry for a lost race would record something that did not happen: roll it back.
    try {
      return this.withAudit(audit, () => {
        if (!update()) throw lostRace;
        return true;
      }).value;
    } catch (err) {
      if (err === lostRace) return false;
      throw err;
    }
  }

  getIncident(id: string): Incident | null {
    const row = this.stmt.incidentGet.get(id) as Row | undefined;
    return row ? (JSON.parse(String(row.doc)) as Incident) : null;
  }

  listIncidents(q: ListQuery): Page<Incident> {
    const after = q.starting_after ?? null;
    const sql = 'SELECT doc FROM incidents WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?';
    const rows = this.db.prepare(sql).all(after, after, q.limit + 1) as Row[];
    return {
      data: rows.slice(0, q.limit).map((r) => JSON.parse(String(r.doc)) as Incident),
      has_more: rows.length > q.limit,
    };
  }

  campaignsWithRedemptionsAt(filter: ScopeFilter): string[] {
    return (this.stmt.campaignsAt.all(...scopeArgs(filter)) as Row[]).map((r) => String(r.campaign_id));
  }

  liveRedemptionIdsInScope(campaign_id: string, filter: ScopeFilter, after_id: string, limit: number): string[] {
    const rows = this.stmt.liveInScope.all(campaign_id, after_id, ...scopeArgs(filter), limit) as Row[];
    return rows.map((r) => String(r.id));
  }

  incidentCampaigns(incident_id: string): string[] {
    return (this.stmt.campaigns.all(incident_id) as Row[]).map((r) => String(r.campaign_id));
  }

  incidentMembers(incident_id: string, campaign_id: string, after_id: string, limit: number): string[] {
    const rows = this.stmt.members.all(incident_id, campaign_id, after_id, limit) as Row[];
    return rows.map((r) => String(r.redemption_id));
  }

  incidentReportRows(incident_id: string): IncidentReportRow[] {
    return (this.stmt.report.all(incident_id) as Row[]).map((r) => ({
      campaign_id: String(r.campaign_id),
      merchant_id: String(r.merchant_id),
      product_kind: String(r.product_kind),
      count: Number(r.count),
      discount_minor: Number(r.discount_minor),
    }));
  }

  incidentRevokedCoupons(incident_id: string): number {
    return Number((this.stmt.revokedTotal.get(incident_id) as Row).n);
  }

  /** Members 64 rows per statement: a freeze of thousands costs tens of statements, not thousands. */
  private insertMembers(incident_id: string, campaign_id: string, ids: readonly string[]): void {
    let i = 0;
    for (; i + members_per_insert <= ids.length; i += members_per_insert) {
      const args: string[] = [];
      for (let j = i; j < i + members_per_insert; j++) args.push(incident_id, campaign_id, ids[j] ?? '');
      this.stmt.members64.run(args);
    }
    for (; i < ids.length; i++) this.stmt.member.run(incident_id, campaign_id, ids[i]);
  }

  /** Events travel as one outbox row of type `batch`, as a campaign batch writes them. */
  private insertEvents(events: OutboxEvent[]): void {
    const first = events[0];
    if (first) this.stmt.outboxInsert.run(first.id, JSON.stringify(events), first.created_at_ms);
  }
}

const lostRace = new Error('incident moved meanwhile');
