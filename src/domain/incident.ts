import type { AlarmKind } from './detect/detector.ts';

/** What the detector did about an alarm: paused the campaign, or only told people. */
export type AlertAction = 'paused' | 'alerted';

/** One detector finding as stored; observed / baseline mean what detector.ts says per kind. */
export interface Alert {
  id: string;
  kind: AlarmKind;
  campaign_id: string;
  merchant_id: string | null;
  /** `device:<id>` or `ip:<address>` for heavy hitters, otherwise null. */
  subject: string | null;
  observed: number;
  baseline: number;
  action: AlertAction;
  created_at_ms: number;
}

export type IncidentAction = 'pause_campaigns' | 'revoke_unredeemed' | 'freeze_redemptions';
export const incidentActions: readonly IncidentAction[] = [
  'pause_campaigns',
  'revoke_unredeemed',
  'freeze_redemptions',
];

/** opening (actions running) -> open -> resolving (reverse / honour running) -> resolved. */
export type IncidentStatus = 'opening' | 'open' | 'resolving' | 'resolved';
export type Resolution = 'reverse' | 'honour';

/** Which redemptions an incident covers; null means "no restriction" on that dimension. */
export interface IncidentScope {
  campaign_ids: string[] | null;
  merchant_ids: string[] | null;
  /** Redemption created_at_ms in [from_ms, to_ms). */
  from_ms: number | null;
  to_ms: number | null;
}

export interface Breakdown {
  count: number;
  discount_minor: number;
}

/** Exposure of an incident, computed from the rows in the store. */
export interface IncidentReport {
  /** Confirmed redemptions in scope it froze (spent, held for its resolution); the breakdowns below sum these. */
  frozen_count: number;
  frozen_minor: number;
  /** Holds in scope it released (never confirmed, so never frozen): their budget and limits came back. */
  released_holds_count: number;
  released_holds_minor: number;
  revoked_coupons: number;
  paused_campaigns: number;
  by_campaign: Array<{ campaign_id: string } & Breakdown>;
  by_merchant: Array<{ merchant_id: string } & Breakdown>;
  by_product_kind: Array<{ product_kind: string } & Breakdown>;
}

export interface IncidentProgress {
  phase: 'scoping' | 'pausing' | 'freezing' | 'revoking' | 'reporting' | 'reversing' | 'honouring' | 'done';
  campaigns_total: number;
  campaigns_done: number;
  /** Redemptions frozen or released (opening) or resolved (resolving) so far. */
  redemptions_done: number;
  updated_at_ms: number;
}

/**
 * What a process needs to carry an opening or resolving incident on where another one stopped
 * (it crashed, or stalled past its lease). Stored with the incident; not part of its wire view.
 */
export interface IncidentWork {
  /** Whose request the running work is (the opener, then the resolver): its batches are audited as theirs. */
  actor: string | null;
  /** Freezing covers redemption ids up to this one (those that existed when freezing began); set then. */
  freeze_through_id: string | null;
  /**
   * Revoking covers coupon ids up to this one (those that existed when revoking began); set then. Each
   * campaign it revokes in keeps it too (Campaign.revoke_through_id), so no reversal restores one.
   */
  revoke_through_id: string | null;
  /** Campaigns the pause step has paused so far (the report's paused_campaigns). */
  paused: number;
  /** How often another process took the work over (each audited); a failed takeover waits longer each time. */
  resumes: number;
}

/** What a resolution did with one redemption the incident froze; null in the store until it gets there. */
export type MemberOutcome = 'reversed' | 'honoured' | 'skipped';

export interface Incident {
  id: string;
  status: IncidentStatus;
  title: string;
  scope: IncidentScope;
  actions: IncidentAction[];
  /** The campaigns the scope resolved to (listed ones, or those with redemptions at the merchants). */
  campaign_ids: string[];
  report: IncidentReport | null;
  progress: IncidentProgress;
  resolution: Resolution | null;
  /** What the resolution moved (frozen -> reversed or confirmed), summed from the batches. */
  resolved: Breakdown | null;
  created_by: string | null;
  created_at_ms: number;
  resolved_at_ms: number | null;
  work: IncidentWork;
}
