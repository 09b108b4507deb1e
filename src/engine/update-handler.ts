import { type Campaign, type CampaignSpec, liveRedemptions } from '../domain/campaign.ts';
import {
  applyPatch,
  type CampaignPatch,
  changedFields,
  riskyChanges,
  tightensPerSubjectLimit,
} from '../domain/campaign-change.ts';
import { Rejection } from '../domain/errors.ts';
import { largestDiscountEverMinor } from '../domain/exposure.ts';
import { hasErrors, lintCampaign } from '../domain/lint.ts';
import type { BatchContext } from './batch-context.ts';
import type { Command } from './commands.ts';

type Cmd = Extract<Command, { type: 'update' }>;

/** What the batch must read for this change: live counts per user and merchant when a limit is set or lowered. */
export function needsLiveMax(c: Campaign, patch: CampaignPatch): boolean {
  return tightensPerSubjectLimit(c, patch);
}

/** Old and new value of every changed field, for the audit entry. */
function diffOf(prev: CampaignSpec, next: CampaignSpec, fields: readonly (keyof CampaignSpec)[]) {
  const out: Record<string, { from: unknown; to: unknown }> = {};
  for (const f of fields) out[f] = { from: prev[f], to: next[f] };
  return out;
}

/** Counters for a limit that was not set were never kept: setting one rebuilds them from the rows. */
function recountIfNeeded(ctx: BatchContext, prev: CampaignSpec, next: CampaignSpec): void {
  const users = prev.per_user_limit === null && next.per_user_limit !== null;
  const merchants = prev.per_merchant_limit === null && next.per_merchant_limit !== null;
  if (!users && !merchants) return;
  ctx.writes.bulk.push({
    kind: 'recount_usage',
    users: next.per_user_limit !== null,
    merchants: next.per_merchant_limit !== null,
  });
}

/**
 * A changed discount leaves the live redemptions at the amounts the earlier one gave: the worst case
 * keeps counting the largest of those settings while any redemption is live (Campaign.prior_discount_max_minor).
 */
function keepPriorDiscount(c: Campaign, prev: Campaign): void {
  if (liveRedemptions(prev) === 0) {
    delete c.prior_discount_max_minor;
    return;
  }
  c.prior_discount_max_minor = largestDiscountEverMinor(prev);
}

/**
 * Changes a campaign's spec (POST /v1/campaigns/{id}). Lint runs again against the
 * previous version; a risky change to a live campaign sends it back to approval by a
 * different key. Runs alone in its batch (see Engine.updateCampaign).
 */
export function updateCampaign(ctx: BatchContext, cmd: Cmd): unknown {
  const c = ctx.campaign;
  if (c.status === 'revoked' || c.status === 'ended') {
    throw new Rejection('invalid_state', `cannot change a ${c.status} campaign`);
  }
  // Its budget, limits and window are the envelope's (total, count, expiry): changing them breaks invariant 6.
  if (c.code_mode === 'red_envelope') {
    throw new Rejection('invalid_state', 'a red envelope campaign is changed only through its envelope');
  }
  const prev: Campaign = { ...c };
  const next = applyPatch(prev, cmd.patch, ctx.live_max);
  const changed = changedFields(prev, next);
  if (changed.length === 0) return { ...c };
  const lint = lintCampaign(next, { now_ms: ctx.now_ms, previous: prev });
  if (hasErrors(lint) && c.status !== 'draft') {
    const rules = lint.filter((f) => f.severity === 'error').map((f) => f.rule);
    throw new Rejection('campaign_lint_failed', `the changed campaign has lint errors: ${rules.join(', ')}`);
  }
  const risky = riskyChanges(prev, next);
  Object.assign(c, next);
  c.lint = lint;
  ctx.touchCampaign();
  c.changed_by = cmd.actor;
  if (cmd.actor !== null) {
    const makers = c.changed_since_approval ?? [];
    if (!makers.includes(cmd.actor)) c.changed_since_approval = [...makers, cmd.actor];
  }
  if (prev.status === 'active' && risky.length > 0) {
    c.status = 'pending_approval';
    c.status_reason = `changed: ${risky.join(', ')}`;
    c.approved_by = null;
  }
  // A paused campaign stays paused (its pause and reason stand: only a resume lifts a pause), and
  // its resume goes to pending_approval; an approval of the change never makes it active behind the pause.
  if (prev.status === 'paused' && risky.length > 0) {
    c.needs_approval = true;
    c.approved_by = null;
  }
  if (changed.includes('discount')) keepPriorDiscount(c, prev);
  recountIfNeeded(ctx, prev, next);
  if (next.ends_at_ms !== prev.ends_at_ms) {
    ctx.writes.bulk.push({
      kind: 'retime_coupons',
      old_ends_at_ms: prev.ends_at_ms,
      ends_at_ms: next.ends_at_ms,
      coupon_ttl_ms: next.coupon_ttl_s === null ? null : next.coupon_ttl_s * 1000,
      at_ms: ctx.now_ms,
    });
  }
  ctx.audit(cmd.actor, 'campaign.updated', c.id, {
    changes: diffOf(prev, next, changed),
    risky,
    from: prev.status,
    to: c.status,
    ...(c.needs_approval ? { needs_approval: true } : {}),
    // The makers an approval must now come from outside of (beside the creator and this changer), so
    // verify can hold the campaign's list to its chain (audit-approval.ts).
    changed_since_approval: [...(c.changed_since_approval ?? [])],
  });
  return { ...c };
}
