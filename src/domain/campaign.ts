import type { Discount } from './discount/discount.ts';
import { assert } from './errors.ts';
import type { LintFinding } from './lint.ts';
import type { RedEnvelope } from './red-envelope-campaign.ts';

export type CampaignStatus = 'draft' | 'pending_approval' | 'active' | 'paused' | 'ended' | 'revoked';
/** `red_envelope`: coupons are issued only by grabs of the campaign's red envelope. */
export type CodeMode = 'claim' | 'unique_codes' | 'shared_code' | 'red_envelope';
export type Audience = { type: 'public' } | { type: 'allowlist'; user_ids: string[] };

/** Redemptions allowed per subject and window; null means no limit. */
export interface Velocity {
  per_user_per_minute?: number | null;
  per_device_per_minute?: number | null;
  per_ip_per_minute?: number | null;
  per_user_per_day?: number | null;
  per_device_per_day?: number | null;
  per_ip_per_day?: number | null;
}

/** What a marketer sets; everything else on a campaign is derived or counted. */
export interface CampaignSpec {
  name: string;
  currency: string;
  discount: Discount;
  min_spend_minor: number;
  product_kinds: string[];
  merchant_ids: string[] | null;
  audience: Audience;
  starts_at_ms: number;
  ends_at_ms: number;
  coupon_ttl_s: number | null;
  budget_minor: number;
  max_redemptions: number | null;
  per_user_limit: number | null;
  per_merchant_limit: number | null;
  code_mode: CodeMode;
  code: string | null;
  auto_pause: boolean;
  velocity: Velocity | null;
}

/** Money and counts of one campaign: the "budget row" every batch locks. */
export interface CampaignCounters {
  reserved_minor: number;
  /** confirmed + frozen */
  spent_minor: number;
  frozen_minor: number;
  reversed_minor: number;
  claimed_count: number;
  reserved_count: number;
  confirmed_count: number;
  frozen_count: number;
  released_count: number;
  reversed_count: number;
}

export interface Campaign extends CampaignSpec, CampaignCounters {
  id: string;
  status: CampaignStatus;
  status_reason: string | null;
  created_at_ms: number;
  updated_at_ms: number;
  created_by: string | null;
  /** The key that last changed the spec; it may not approve. */
  changed_by: string | null;
  /**
   * Every key that changed the spec since it was last approved: none of them may approve the
   * version they helped make (a second key's later edit does not clear the first's risky change).
   * Absent on campaigns stored before it was kept.
   */
  changed_since_approval?: string[];
  approved_by: string | null;
  /**
   * Paused with a change that needs a second key's approval (a risky change made while paused, or
   * a pending campaign paused): a pause outranks a review, so such a campaign stays paused until it
   * is resumed, and resuming sends it to pending_approval, not active. Absent: false.
   */
  needs_approval?: boolean;
  /**
   * The largest discount an earlier setting of the discount could give (null: no cap, an uncapped
   * percentage), kept while redemptions made under it may still be live: a changed discount leaves
   * them at their amounts, so the worst case (exposure.ts) still counts them at it. Absent when no
   * redemption was live at the last change of the discount.
   */
  prior_discount_max_minor?: number | null;
  /** Findings of the last lint run (create, change, submit). */
  lint: LintFinding[];
  audit_seq: number;
  audit_head: string;
  /** The red envelope this campaign backs (code_mode red_envelope only). */
  red_envelope?: RedEnvelope;
  /**
   * The newest coupon bound of the incidents whose revocation ran over this campaign (coupon ids are
   * time-ordered; each incident revokes the unredeemed coupons up to its bound). A reversal with
   * restore_coupon revokes a coupon up to it instead of making it active again, so no coupon the
   * incident took away (or that was redeemed then) redeems after it. Absent until such an incident.
   */
  revoke_through_id?: string;
  /**
   * Spend when the campaign was last resumed. A resume is a person's judgement that the spending
   * so far is in order, so budget burn judges what is spent after it against the rest of the budget
   * over the rest of the window, not the same evidence again. Absent until the first resume.
   */
  burn_base?: { at_ms: number; spent_minor: number };
}

/** Whether an incident's revocation covered this coupon (see Campaign.revoke_through_id). */
export function incidentRevoked(c: Campaign, coupon_id: string): boolean {
  return c.revoke_through_id !== undefined && coupon_id <= c.revoke_through_id;
}

/**
 * What a reversal with restore_coupon gives a redeemed single-use coupon back as. `revoked` in a
 * revoked campaign (revoking it revoked every coupon not redeemed; `active`, this one could never
 * be redeemed yet would read as usable) and when an incident's revocation covered it; else `active`.
 */
export function restoredCouponStatus(c: Campaign, coupon_id: string): 'active' | 'revoked' {
  return c.status === 'revoked' || incidentRevoked(c, coupon_id) ? 'revoked' : 'active';
}

export const zeroCounters: CampaignCounters = {
  reserved_minor: 0,
  spent_minor: 0,
  frozen_minor: 0,
  reversed_minor: 0,
  claimed_count: 0,
  reserved_count: 0,
  confirmed_count: 0,
  frozen_count: 0,
  released_count: 0,
  reversed_count: 0,
};

export function availableMinor(c: Pick<Campaign, 'budget_minor' | 'reserved_minor' | 'spent_minor'>): number {
  return c.budget_minor - c.reserved_minor - c.spent_minor;
}

/** Redemptions that hold or spend money: what max_redemptions counts. */
export function liveRedemptions(c: CampaignCounters): number {
  return c.reserved_count + c.confirmed_count + c.frozen_count;
}

/** Invariant 1 (and the non-negativity of every counter). Throws on a broken one. */
export function assertConservation(c: Campaign): void {
  const available = availableMinor(c);
  assert(c.reserved_minor >= 0 && c.spent_minor >= 0 && available >= 0, `campaign ${c.id}: negative budget part`);
  assert(c.reserved_minor + c.spent_minor + available === c.budget_minor, `campaign ${c.id}: conservation`);
  assert(c.frozen_minor >= 0 && c.frozen_minor <= c.spent_minor, `campaign ${c.id}: frozen outside spent`);
  assert(c.max_redemptions === null || liveRedemptions(c) <= c.max_redemptions, `campaign ${c.id}: max_redemptions`);
}

const transitions: Record<CampaignStatus, readonly CampaignStatus[]> = {
  draft: ['pending_approval', 'active', 'revoked'],
  pending_approval: ['active', 'draft', 'paused', 'revoked'],
  active: ['paused', 'ended', 'revoked', 'pending_approval'],
  paused: ['active', 'ended', 'revoked', 'pending_approval'],
  ended: [],
  revoked: [],
};

export function canTransition(from: CampaignStatus, to: CampaignStatus): boolean {
  return transitions[from].includes(to);
}

/** Ended or revoked: no status follows, so the campaign never takes a redemption again. */
export function isOver(status: CampaignStatus): boolean {
  return transitions[status].length === 0;
}
