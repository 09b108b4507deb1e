import type Database from 'better-sqlite3';
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
import { sizedPage, textBytes } from './sized-page.ts';

type Row = Record<string, unknown>;
/** The adapter's platform-audit transaction: runs `body`, then appends the entry `make` links. */
type WithPlatformAudit = <T>(make: MakePlatformAudit, body: () => T) => { value: T };

const members_per_insert = 64;

function memberInsert(rows: number): string {
  const values = Array(rows).fill('(?, ?, ?)').join(', ');
  return `INSERT OR IGNORE INTO incident_redemptions (incident_id, campaign_id, redemption_id) VALUES ${values}`;
}

/** Coupon statuses an incident revokes: active, and on hold (single-use only; see revokeCoupons). */
const unredeemed = "('active', 'reserved')";
/** Coupon statuses its bound must cover: those it revokes, and redeemed ones a reversal could restore. */
const covered = "('active', 'reserved', 'redeemed')";

/** `merchant_id IN (json array)` etc.: one statement for any scope, parameters always bound. */
const scopeSql = `(? IS NULL OR merchant_id IN (SELECT value FROM json_each(?)))
  AND (? IS NULL OR created_at_ms >= ?) AND (? IS NULL OR created_at_ms < ?)`;

function scopeArgs(f: ScopeFilter): unknown[] {
  const merchants = f.merchant_ids === null ? null : JSON.stringify(f.merchant_ids);
  return [merchants, merchants, f.from_ms, f.from_ms, f.to_ms, f.to_ms];
}

/** The lease columns an incident is stored with: held while opening or resolving, none otherwise. */
function leaseArgs(incident: Incident, lease: IncidentLease): [string | null, number | null] {
  const working = incident.status === 'opening' || incident.status === 'resolving';
  return working ? [lease.owner, lease.until_ms] : [null, null];
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
      revoked: p(
        `INSERT INTO incident_revocations (incident_id, campaign_id, coupons, at_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (incident_id, campaign_id) DO UPDATE SET coupons = coupons + excluded.coupons, at_ms = excluded.at_ms`,
      ),
      incidentInsert: p(
        'INSERT INTO incidents (id, status, created_at_ms, doc, lease_owner, lease_until_ms) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      incidentUpdate: p(
        `UPDATE incidents SET status = ?, doc = ?, lease_owner = ?, lease_until_ms = ?
         WHERE id = ? AND status = ? AND lease_owner = ?`,
      ),
      incidentClaim: p(
        `UPDATE incidents SET status = ?, doc = ?, lease_owner = ?, lease_until_ms = ?
         WHERE id = ? AND status = ? AND (lease_until_ms IS NULL OR lease_until_ms <= ?)`,
      ),
      stuck: p(
        `SELECT id FROM incidents WHERE status IN ('opening', 'resolving')
         AND (lease_until_ms IS NULL OR lease_until_ms <= ?) ORDER BY id LIMIT ?`,
      ),
      fence: p('SELECT status, lease_owner FROM incidents WHERE id = ?'),
      // Unresolved incidents are few (people open them), and the status index finds them.
      pausing: p(
        `SELECT id FROM incidents WHERE status IN ('opening', 'open', 'resolving')
         AND EXISTS (SELECT 1 FROM json_each(doc, '$.actions') WHERE value = 'pause_campaigns')
         AND (EXISTS (SELECT 1 FROM json_each(doc, '$.campaign_ids') WHERE value = ?)
           OR EXISTS (SELECT 1 FROM json_each(doc, '$.scope.campaign_ids') WHERE value = ?))
         ORDER BY id`,
      ),
      // Ids travel as one JSON array: one statement per batch, a primary-key lookup per id.
      pending: p(
        `SELECT redemption_id FROM incident_redemptions WHERE incident_id = ? AND campaign_id = ?
         AND redemption_id IN (SELECT value FROM json_each(?)) AND outcome IS NULL`,
      ),
      outcome: p(
        `UPDATE incident_redemptions SET outcome = ? WHERE incident_id = ? AND campaign_id = ?
         AND redemption_id IN (SELECT value FROM json_each(?))`,
      ),
      incidentGet: p('SELECT doc FROM incidents WHERE id = ?'),
      outboxInsert: p("INSERT INTO outbox (id, type, data, created_at_ms) VALUES (?, 'batch', ?, ?)"),
      liveInScope: p(
        `SELECT id FROM redemptions WHERE campaign_id = ? AND id > ? AND status IN ('reserved', 'confirmed')
         AND ${scopeSql} ORDER BY id LIMIT ?`,
      ),
      campaignsAt: p(`SELECT DISTINCT campaign_id FROM redemptions WHERE ${scopeSql} ORDER BY campaign_id`),
      campaigns: p('SELECT DISTINCT campaign_id FROM incident_redemptions WHERE incident_id = ? ORDER BY campaign_id'),
      members: p(
        `SELECT redemption_id, outcome FROM incident_redemptions
         WHERE incident_id = ? AND campaign_id = ? AND redemption_id > ? ORDER BY redemption_id LIMIT ?`,
      ),
      memberCampaigns: p(
        'SELECT DISTINCT incident_id, campaign_id FROM incident_redemptions ORDER BY incident_id, campaign_id',
      ),
      resolvedTotals: p(
        `SELECT COUNT(*) AS count, COALESCE(SUM(r.discount_minor), 0) AS discount_minor
         FROM incident_redemptions m JOIN redemptions r ON r.id = m.redemption_id
         WHERE m.incident_id = ? AND m.outcome IN ('reversed', 'honoured')`,
      ),
      report: p(
        `SELECT r.campaign_id, r.merchant_id, r.product_kind, COUNT(*) AS count, SUM(r.discount_minor) AS discount_minor
         FROM incident_redemptions m JOIN redemptions r ON r.id = m.redemption_id
         WHERE m.incident_id = ? GROUP BY r.campaign_id, r.merchant_id, r.product_kind`,
      ),
      revokedTotal: p('SELECT COALESCE(SUM(coupons), 0) AS n FROM incident_revocations WHERE incident_id = ?'),
      revocations: p(
        'SELECT incident_id, campaign_id, coupons FROM incident_revocations ORDER BY incident_id, campaign_id',
      ),
      released: p(
        `INSERT INTO incident_releases (incident_id, campaign_id, holds, discount_minor) VALUES (?, ?, ?, ?)
         ON CONFLICT (incident_id, campaign_id) DO UPDATE
         SET holds = holds + excluded.holds, discount_minor = discount_minor + excluded.discount_minor`,
      ),
      releasedTotal: p(
        `SELECT COALESCE(SUM(holds), 0) AS count, COALESCE(SUM(discount_minor), 0) AS discount_minor
         FROM incident_releases WHERE incident_id = ?`,
      ),
      releases: p(
        `SELECT incident_id, campaign_id, holds, discount_minor FROM incident_releases
         ORDER BY incident_id, campaign_id`,
      ),
      unredeemedCoupons: p(
        `SELECT id FROM coupons WHERE campaign_id = ? AND status IN ${unredeemed} AND id <= ? LIMIT ?`,
      ),
      newestRedemption: p('SELECT max(id) AS id FROM redemptions WHERE campaign_id = ?'),
      newestCoveredCoupon: p(`SELECT max(id) AS id FROM coupons WHERE campaign_id = ? AND status IN ${covered}`),
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
      } else if (op.kind === 'incident_outcomes') {
        this.stmt.outcome.run(op.outcome, op.incident_id, campaign_id, JSON.stringify(op.redemption_ids));
      } else if (op.kind === 'incident_revoked') {
        this.stmt.revoked.run(op.incident_id, campaign_id, op.coupons, op.at_ms);
      } else if (op.kind === 'incident_released') {
        this.stmt.released.run(op.incident_id, campaign_id, op.holds, op.discount_minor);
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

  /** Each incident's fence for a batch, inside its transaction (under the campaign's lock). */
  fences(campaign_id: string, loads: readonly IncidentFenceLoad[]): Map<string, IncidentFence> {
    const out = new Map<string, IncidentFence>();
    for (const load of loads) {
      const row = this.stmt.fence.get(load.incident_id) as Row | undefined;
      if (!row) continue;
      const fence = out.get(load.incident_id) ?? {
        status: String(row.status) as IncidentStatus,
        lease_owner: row.lease_owner === null ? null : String(row.lease_owner),
        pending: new Set<string>(),
      };
      if (load.redemption_ids.length > 0) {
        const rows = this.stmt.pending.all(load.incident_id, campaign_id, JSON.stringify(load.redemption_ids)) as Row[];
        for (const r of rows) fence.pending.add(String(r.redemption_id));
      }
      out.set(load.incident_id, fence);
    }
    return out;
  }

  /** The incidents holding the campaign paused, for a batch inside its transaction (see BatchLoad.pausing_incidents). */
  pausing(campaign_id: string): string[] {
    return (this.stmt.pausing.all(campaign_id, campaign_id) as Row[]).map((r) => String(r.id));
  }

  insertIncident(incident: Incident, lease: IncidentLease, audit: MakePlatformAudit, events: OutboxEvent[]): void {
    this.withAudit(audit, () => {
      const doc = JSON.stringify(incident);
      this.stmt.incidentInsert.run(
        incident.id,
        incident.status,
        incident.created_at_ms,
        doc,
        ...leaseArgs(incident, lease),
      );
      this.insertEvents(events);
    });
  }

  updateIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    audit: MakePlatformAudit | null,
    events: OutboxEvent[],
  ): boolean {
    const doc = JSON.stringify(incident);
    const args = [incident.status, doc, ...leaseArgs(incident, lease), incident.id, from, lease.owner];
    return this.moveIncident(() => this.stmt.incidentUpdate.run(...args).changes > 0, audit, events);
  }

  claimIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    now_ms: number,
    audit: MakePlatformAudit | null,
  ): boolean {
    const doc = JSON.stringify(incident);
    const args = [incident.status, doc, ...leaseArgs(incident, lease), incident.id, from, now_ms];
    return this.moveIncident(() => this.stmt.incidentClaim.run(...args).changes > 0, audit, []);
  }

  stuckIncidents(now_ms: number, limit: number): string[] {
    return (this.stmt.stuck.all(now_ms, limit) as Row[]).map((r) => String(r.id));
  }

  /** Runs a conditional incident write with its events and audit entry, all or nothing. */
  private moveIncident(write: () => boolean, audit: MakePlatformAudit | null, events: OutboxEvent[]): boolean {
    const update = (): boolean => {
      const moved = write();
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

  listIncidents(q: SizedListQuery): Page<Incident> {
    const after = q.starting_after ?? null;
    const sql = 'SELECT doc FROM incidents WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?';
    const rows = this.db.prepare(sql).iterate(after, after, q.limit + 1) as IterableIterator<Row>;
    const page = sizedPage(rows, q, (r) => textBytes(r.doc));
    return { data: page.data.map((r) => JSON.parse(String(r.doc)) as Incident), has_more: page.has_more };
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

  incidentMembers(incident_id: string, campaign_id: string, after_id: string, limit: number): IncidentMember[] {
    const rows = this.stmt.members.all(incident_id, campaign_id, after_id, limit) as Row[];
    return rows.map((r) => ({
      redemption_id: String(r.redemption_id),
      outcome: r.outcome === null ? null : (String(r.outcome) as MemberOutcome),
    }));
  }

  incidentMemberCampaigns(): Array<{ incident_id: string; campaign_id: string }> {
    return (this.stmt.memberCampaigns.all() as Row[]).map((r) => ({
      incident_id: String(r.incident_id),
      campaign_id: String(r.campaign_id),
    }));
  }

  incidentResolvedTotals(incident_id: string): { count: number; discount_minor: number } {
    const row = this.stmt.resolvedTotals.get(incident_id) as Row;
    return { count: Number(row.count), discount_minor: Number(row.discount_minor) };
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

  incidentRevocations(): Array<{ incident_id: string; campaign_id: string; coupons: number }> {
    return (this.stmt.revocations.all() as Row[]).map((r) => ({
      incident_id: String(r.incident_id),
      campaign_id: String(r.campaign_id),
      coupons: Number(r.coupons),
    }));
  }

  incidentReleasedHolds(incident_id: string): Breakdown {
    const row = this.stmt.releasedTotal.get(incident_id) as Row;
    return { count: Number(row.count), discount_minor: Number(row.discount_minor) };
  }

  incidentReleases(): Array<{ incident_id: string; campaign_id: string } & Breakdown> {
    return (this.stmt.releases.all() as Row[]).map((r) => ({
      incident_id: String(r.incident_id),
      campaign_id: String(r.campaign_id),
      count: Number(r.holds),
      discount_minor: Number(r.discount_minor),
    }));
  }

  unredeemedCouponIds(campaign_id: string, through_id: string, limit: number): string[] {
    return (this.stmt.unredeemedCoupons.all(campaign_id, through_id, limit) as Row[]).map((r) => String(r.id));
  }

  newestId(kind: 'redemption' | 'coupon', campaign_ids: readonly string[]): string | null {
    const stmt = kind === 'redemption' ? this.stmt.newestRedemption : this.stmt.newestCoveredCoupon;
    let newest: string | null = null;
    for (const campaign_id of campaign_ids) {
      const id = (stmt.get(campaign_id) as Row).id;
      if (id !== null && id !== undefined && (newest === null || String(id) > newest)) newest = String(id);
    }
    return newest;
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
