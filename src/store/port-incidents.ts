import type { Alert, Incident, IncidentStatus } from '../domain/incident.ts';
import type { AuditEntry, ListQuery, OutboxEvent, Page } from './port.ts';

/**
 * Batch writes of detection and incidents, applied in the campaign's batch transaction
 * (so an alert, a freeze or a revocation commits with its audit entry and events).
 */
export type IncidentBulkOp =
  | { kind: 'insert_alert'; alert: Alert }
  /** The redemptions this batch froze for the incident: what its resolution will act on. */
  | { kind: 'incident_members'; incident_id: string; redemption_ids: string[] }
  /** Revokes the campaign's active coupons and records how many for the incident's report. */
  | { kind: 'incident_revoke_coupons'; incident_id: string; at_ms: number };

/** Redemption filters of an incident scope inside one campaign; null: no restriction. */
export interface ScopeFilter {
  merchant_ids: string[] | null;
  from_ms: number | null;
  to_ms: number | null;
}

/** Frozen rows of an incident grouped by campaign, merchant and product kind. */
export interface IncidentReportRow {
  campaign_id: string;
  merchant_id: string;
  product_kind: string;
  count: number;
  discount_minor: number;
}

export type MakePlatformAudit = (prev: { seq: number; hash: string }) => AuditEntry;

/** Alerts and incidents (Store extends this; adapters implement it in their incidents file). */
export interface IncidentStore {
  /** Alerts newest first, optionally of one campaign. */
  listAlerts(q: ListQuery & { campaign_id?: string }): Promise<Page<Alert>>;

  /** Inserts an incident with its platform audit entry and events in one transaction. */
  insertIncident(incident: Incident, audit: MakePlatformAudit, events: OutboxEvent[]): Promise<void>;
  /**
   * Overwrites the stored incident if its status is still `from` (false when another request
   * moved it first); the audit entry and events, if any, commit in the same transaction.
   */
  updateIncident(
    incident: Incident,
    from: IncidentStatus,
    audit: MakePlatformAudit | null,
    events: OutboxEvent[],
  ): Promise<boolean>;
  getIncident(id: string): Promise<Incident | null>;
  listIncidents(q: ListQuery): Promise<Page<Incident>>;

  /** Campaigns with a redemption at one of the merchants (in the window): a scan, there is no merchant index. */
  campaignsWithRedemptionsAt(filter: ScopeFilter & { merchant_ids: string[] }): Promise<string[]>;
  /** Ids of reserved and confirmed redemptions of a campaign in scope, in id order after `after_id`. */
  liveRedemptionIdsInScope(
    campaign_id: string,
    filter: ScopeFilter,
    after_id: string,
    limit: number,
  ): Promise<string[]>;
  /** Campaigns with redemptions frozen by the incident. */
  incidentCampaigns(incident_id: string): Promise<string[]>;
  /** Redemptions the incident froze in one campaign, in id order after `after_id`. */
  incidentMembers(incident_id: string, campaign_id: string, after_id: string, limit: number): Promise<string[]>;
  /** The incident's frozen rows, grouped; sums come from the redemption rows themselves. */
  incidentReportRows(incident_id: string): Promise<IncidentReportRow[]>;
  /** Coupons revoked by the incident, as counted by the revoking statements. */
  incidentRevokedCoupons(incident_id: string): Promise<number>;
}
