import type { Alert, Breakdown, Incident, IncidentStatus, MemberOutcome } from '../domain/incident.ts';
import type { AuditEntry, ListQuery, OutboxEvent, Page, SizedListQuery } from './port.ts';

/**
 * Batch writes of detection and incidents, applied in the campaign's batch transaction
 * (so an alert, a freeze or a revocation commits with its audit entry and events).
 */
export type IncidentBulkOp =
  | { kind: 'insert_alert'; alert: Alert }
  /** The redemptions this batch froze for the incident: what its resolution will act on. */
  | { kind: 'incident_members'; incident_id: string; redemption_ids: string[] }
  /** What the incident's resolution did with these members (each settled once: see IncidentFence.pending). */
  | { kind: 'incident_outcomes'; incident_id: string; outcome: MemberOutcome; redemption_ids: string[] }
  /** Adds the coupons this batch revoked for the incident (changed as snapshot rows) to its count. */
  | { kind: 'incident_revoked'; incident_id: string; coupons: number; at_ms: number }
  /** Adds the holds this batch released for the incident's freeze (changed as snapshot rows) to its totals. */
  | { kind: 'incident_released'; incident_id: string; holds: number; discount_minor: number };

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

/**
 * Who works on an opening or resolving incident, and until when: the holder renews it with every
 * save; once it runs out (the holder crashed or stalled) any process may take the work over.
 */
export interface IncidentLease {
  owner: string;
  until_ms: number;
}

/** Incident work a campaign batch asks about: the incident's state, and which of these redemptions are pending members. */
export interface IncidentFenceLoad {
  incident_id: string;
  redemption_ids: string[];
}

/**
 * An incident as a batch sees it under the campaign row lock: its status and lease holder (so a
 * process that lost the work applies nothing), and which of the asked redemptions it froze and
 * its resolution has not settled yet (so no member is resolved twice, even across a crash).
 */
export interface IncidentFence {
  status: IncidentStatus;
  lease_owner: string | null;
  pending: Set<string>;
}

/** One row of incident_redemptions: a redemption the incident froze, and what its resolution did with it. */
export interface IncidentMember {
  redemption_id: string;
  outcome: MemberOutcome | null;
}

/** Alerts and incidents (Store extends this; adapters implement it in their incidents file). */
export interface IncidentStore {
  /** Alerts newest first, optionally of one campaign. */
  listAlerts(q: ListQuery & { campaign_id?: string }): Promise<Page<Alert>>;

  /** Inserts an incident, held by `lease`, with its platform audit entry and events in one transaction. */
  insertIncident(
    incident: Incident,
    lease: IncidentLease,
    audit: MakePlatformAudit,
    events: OutboxEvent[],
  ): Promise<void>;
  /**
   * As the holder of `lease`: overwrites the stored incident if its status is still `from` and
   * lease.owner still holds it (false otherwise: another process took the work over). Renews the
   * lease while the new status is opening or resolving, and drops it otherwise; the audit entry
   * and events, if any, commit in the same transaction.
   */
  updateIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    audit: MakePlatformAudit | null,
    events: OutboxEvent[],
  ): Promise<boolean>;
  /**
   * Takes the work of an incident over: overwrites it and gives `lease` if its status is still
   * `from` and nobody holds it (no lease, or one that ran out by now_ms). Exactly one of several
   * concurrent claimers wins; the audit entry, if any, commits with the claim.
   */
  claimIncident(
    incident: Incident,
    from: IncidentStatus,
    lease: IncidentLease,
    now_ms: number,
    audit: MakePlatformAudit | null,
  ): Promise<boolean>;
  /** Ids of opening or resolving incidents nobody holds by now_ms (their process died), oldest first. */
  stuckIncidents(now_ms: number, limit: number): Promise<string[]>;
  getIncident(id: string): Promise<Incident | null>;
  /** Newest first; `page_bytes_max` counts each incident's stored document (scope, report, progress). */
  listIncidents(q: SizedListQuery): Promise<Page<Incident>>;

  /** Campaigns with a redemption at one of the merchants (in the window): a scan, there is no merchant index. */
  campaignsWithRedemptionsAt(filter: ScopeFilter & { merchant_ids: string[] }): Promise<string[]>;
  /**
   * Ids of reserved and confirmed redemptions of a campaign in scope, in id order after `after_id`:
   * what an incident's freeze acts on (it releases the holds and freezes the confirmed ones).
   */
  liveRedemptionIdsInScope(
    campaign_id: string,
    filter: ScopeFilter,
    after_id: string,
    limit: number,
  ): Promise<string[]>;
  /** Campaigns with redemptions frozen by the incident. */
  incidentCampaigns(incident_id: string): Promise<string[]>;
  /** Redemptions the incident froze in one campaign, with their outcomes, in id order after `after_id`. */
  incidentMembers(incident_id: string, campaign_id: string, after_id: string, limit: number): Promise<IncidentMember[]>;
  /** Every (incident, campaign) that has member rows (verify: each must be one the campaign's chain lists). */
  incidentMemberCampaigns(): Promise<Array<{ incident_id: string; campaign_id: string }>>;
  /** What the resolution moved (members settled as reversed or honoured), summed from the redemption rows. */
  incidentResolvedTotals(incident_id: string): Promise<{ count: number; discount_minor: number }>;
  /** The incident's frozen rows, grouped; sums come from the redemption rows themselves. */
  incidentReportRows(incident_id: string): Promise<IncidentReportRow[]>;
  /** Coupons revoked by the incident, as counted by the revoking batches. */
  incidentRevokedCoupons(incident_id: string): Promise<number>;
  /** Every (incident, campaign) revocation count (verify: each must be what the campaign's chain lists). */
  incidentRevocations(): Promise<Array<{ incident_id: string; campaign_id: string; coupons: number }>>;
  /** Holds released by the incident's freeze, as counted and summed by the releasing batches. */
  incidentReleasedHolds(incident_id: string): Promise<Breakdown>;
  /** Every (incident, campaign) count and sum of released holds (verify: each must be what its chain lists). */
  incidentReleases(): Promise<Array<{ incident_id: string; campaign_id: string } & Breakdown>>;
  /**
   * Ids of a campaign's unredeemed coupons (`active` or `reserved`: on hold) up to `through_id`
   * (coupon ids are time-ordered), at most `limit`: what an incident's revocation covers.
   */
  unredeemedCouponIds(campaign_id: string, through_id: string, limit: number): Promise<string[]>;
  /**
   * The greatest redemption id (any status), or the greatest coupon id that is unredeemed (as
   * unredeemedCouponIds) or redeemed (a reversal with restore_coupon could make it active again),
   * over the campaigns as stored now (null: none). Ids order by the clock of the node that made
   * them, so an incident bounds its work no lower than this (see IncidentWorker.bound).
   */
  newestId(kind: 'redemption' | 'coupon', campaign_ids: readonly string[]): Promise<string | null>;
}
