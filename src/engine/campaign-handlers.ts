import { limits } from '../config/limits.ts';
import { type Campaign, type CampaignStatus, canTransition } from '../domain/campaign.ts';
import { Rejection } from '../domain/errors.ts';
import { maxExposureMinor } from '../domain/exposure.ts';
import { lineageIds, selfApprovalReason } from '../domain/key-lineage.ts';
import { hasErrors, hasWarnings, lintCampaign } from '../domain/lint.ts';
import type { BatchContext } from './batch-context.ts';
import type { Command } from './commands.ts';
import { releaseHold } from './redeem-handlers.ts';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

const eventByStatus: Partial<Record<CampaignStatus, string>> = {
  active: 'campaign.activated',
  paused: 'campaign.paused',
  revoked: 'campaign.revoked',
};

function moveTo(ctx: BatchContext, cmd: Cmd<'action'>, to: CampaignStatus, data: Record<string, unknown> = {}): void {
  const c = ctx.campaign;
  if (!canTransition(c.status, to)) throw new Rejection('invalid_state', `cannot ${cmd.action} a ${c.status} campaign`);
  const from = c.status;
  c.status = to;
  c.status_reason = cmd.reason;
  ctx.touchCampaign();
  ctx.audit(cmd.actor, `campaign.${cmd.action}`, c.id, { from, to, reason: cmd.reason, ...data });
  const event = eventByStatus[to];
  if (event) ctx.event(event, { campaign_id: c.id, from, to, reason: cmd.reason });
}

/**
 * An unresolved incident that pauses campaigns holds back the ones in its scope not live yet: it
 * paused those that were active, and neither an approval nor a submit makes one active behind its
 * back (the same campaign the responders meant to stop). Refused, nothing changes; once the incident
 * is resolved both work as before. The store lists the incidents under the campaign's row lock, so
 * an incident stored (or scoped) before this batch is seen; one stored after it commits pauses the
 * campaign, since its pause step comes after that and waits for the same lock. A resume is not held:
 * it is an admin's explicit call on a paused campaign, as for the campaigns the incident paused.
 */
function refuseWhileHeld(ctx: BatchContext, cmd: Cmd<'action'>): void {
  const [incident_id] = ctx.pausingIncidents();
  if (incident_id === undefined) return;
  throw new Rejection(
    'invalid_state',
    `cannot ${cmd.action} campaign ${ctx.campaign.id} into active: incident ${incident_id} pauses the campaigns in its scope and is not resolved`,
  );
}

function submit(ctx: BatchContext, cmd: Cmd<'action'>): void {
  const c = ctx.campaign;
  if (c.status !== 'draft') throw new Rejection('invalid_state', `cannot submit a ${c.status} campaign`);
  // A refused submit changes nothing: the findings go into its error, not onto the campaign (whose
  // every stored change is audited; an Idempotency-Key would otherwise store this one unaudited).
  const lint = lintCampaign(c, { now_ms: ctx.now_ms });
  if (hasErrors(lint)) {
    const rules = lint.filter((f) => f.severity === 'error').map((f) => f.rule);
    throw new Rejection('campaign_lint_failed', `campaign has lint errors: ${rules.join(', ')}`);
  }
  const exposure_minor = maxExposureMinor(c);
  const risky = hasWarnings(lint) || exposure_minor > cmd.approval_threshold_minor;
  if (!risky) refuseWhileHeld(ctx, cmd);
  c.lint = lint;
  moveTo(ctx, cmd, risky ? 'pending_approval' : 'active', { max_exposure_minor: exposure_minor });
}

/**
 * Maker-checker: the approver may not be one of the campaign's makers, nor share a lineage with one
 * (a maker's rotated key, a key a maker made, or a key that made a maker: domain/key-lineage.ts).
 * The keys' origins are read in this batch's transaction, after every change the makers committed,
 * so a key made or rotated a moment before is seen. Answers the approver's lineage, for the audit.
 */
function checkMakers(ctx: BatchContext, approver: string): string[] {
  const c = ctx.campaign;
  const makers = [c.created_by, c.changed_by, ...(c.changed_since_approval ?? [])];
  const origins = ctx.keyOrigins();
  const refused = selfApprovalReason(origins, approver, makers);
  if (refused !== null) throw new Rejection('approval_self_forbidden', refused);
  return lineageIds(origins, approver);
}

/**
 * With expected_updated_at_ms, only the version the approver reviewed is approved: the check runs
 * here, under the campaign's row lock, so no change can land between it and the activation.
 */
function approve(ctx: BatchContext, cmd: Cmd<'action'>): void {
  const c = ctx.campaign;
  if (c.status !== 'pending_approval') throw new Rejection('invalid_state', `cannot approve a ${c.status} campaign`);
  const approver_lineage = cmd.actor === null ? null : checkMakers(ctx, cmd.actor);
  const expected_ms = cmd.expected_updated_at_ms;
  if (expected_ms !== undefined && expected_ms !== c.updated_at_ms) {
    throw new Rejection(
      'invalid_state',
      'the campaign changed since the version you reviewed (expected_updated_at): review it again before approving',
      'expected_updated_at',
    );
  }
  refuseWhileHeld(ctx, cmd);
  c.approved_by = cmd.actor;
  c.changed_since_approval = [];
  moveTo(ctx, cmd, 'active', approver_lineage === null ? {} : { approver_lineage });
}

/**
 * The kill switch stops any campaign that can still spend: active, or pending approval (its open
 * holds could otherwise still be confirmed). A pending campaign paused keeps its need for approval.
 */
function pause(ctx: BatchContext, cmd: Cmd<'action'>): void {
  const c = ctx.campaign;
  if (c.status === 'paused') return; // the kill switch is safe to press twice
  if (c.status === 'pending_approval') {
    c.needs_approval = true;
    moveTo(ctx, cmd, 'paused', { needs_approval: true });
    return;
  }
  moveTo(ctx, cmd, 'paused');
}

/**
 * Only a paused campaign resumes: from pending_approval that would skip the second key. One
 * with a change awaiting approval (needs_approval) resumes into pending_approval, not active.
 */
function resume(ctx: BatchContext, cmd: Cmd<'action'>): void {
  const c = ctx.campaign;
  if (c.status !== 'paused') {
    throw new Rejection('invalid_state', `cannot resume a ${c.status} campaign`);
  }
  if (c.needs_approval) {
    c.needs_approval = false;
    moveTo(ctx, cmd, 'pending_approval');
    c.status_reason = cmd.reason ?? 'resumed: a change awaits approval';
    return;
  }
  const burn_base = { at_ms: ctx.now_ms, spent_minor: c.spent_minor };
  c.burn_base = burn_base;
  moveTo(ctx, cmd, 'active', { burn_base });
}

/** Ends the campaign for good: every hold is released and every unredeemed coupon revoked. */
function revoke(ctx: BatchContext, cmd: Cmd<'action'>): void {
  if (!canTransition(ctx.campaign.status, 'revoked')) {
    throw new Rejection('invalid_state', `cannot revoke a ${ctx.campaign.status} campaign`);
  }
  const holds = ctx.reservedRedemptions();
  for (const r of holds) releaseHold(ctx, r, cmd.actor, 'campaign_revoked');
  ctx.writes.bulk.push({ kind: 'revoke_active_coupons', at_ms: ctx.now_ms });
  moveTo(ctx, cmd, 'revoked', { released_holds: holds.length });
}

/**
 * The sweeper's, once `ends_at` has passed: an active or paused campaign becomes `ended`. An active
 * one's holds run their course: they may still be confirmed or released. A paused one's are
 * released: its pause kept them from being confirmed, and an ended campaign is never resumed, so
 * ending it must not lift the pause for them. Any other status, or a campaign another node ended
 * first, is left as it is.
 */
function end(ctx: BatchContext, cmd: Cmd<'action'>): void {
  const c = ctx.campaign;
  if (c.status !== 'active' && c.status !== 'paused') return;
  if (ctx.now_ms < c.ends_at_ms) throw new Rejection('invalid_state', 'the campaign has not reached its ends_at');
  if (c.status === 'active') {
    moveTo(ctx, cmd, 'ended');
    return;
  }
  const holds = ctx.reservedRedemptions();
  for (const r of holds) releaseHold(ctx, r, cmd.actor, 'campaign_ended_paused');
  moveTo(ctx, cmd, 'ended', { released_holds: holds.length });
}

export function campaignAction(ctx: BatchContext, cmd: Cmd<'action'>): unknown {
  switch (cmd.action) {
    case 'submit':
      submit(ctx, cmd);
      break;
    case 'approve':
      approve(ctx, cmd);
      break;
    case 'pause':
      pause(ctx, cmd);
      break;
    case 'resume':
      resume(ctx, cmd);
      break;
    case 'revoke':
      revoke(ctx, cmd);
      break;
    case 'end':
      end(ctx, cmd);
      break;
  }
  return { ...ctx.campaign };
}

/** Why `c` can have no new codes (not unique_codes, or over), or null; the CLI asks before it opens its file. */
export function codesRefusal(c: Campaign): Rejection | null {
  if (c.code_mode !== 'unique_codes') {
    return new Rejection('invalid_request', 'codes exist only for unique_codes campaigns', 'count');
  }
  if (c.status === 'revoked' || c.status === 'ended') return new Rejection('invalid_state', `campaign is ${c.status}`);
  return null;
}

/** Unique bearer codes for a unique_codes campaign; they live until the campaign ends. */
export function generateCodes(ctx: BatchContext, cmd: Cmd<'codes'>): unknown {
  const c = ctx.campaign;
  const refused = codesRefusal(c);
  if (refused) throw refused;
  if (!Number.isSafeInteger(cmd.count) || cmd.count < 1 || cmd.count > limits.codes_per_request_max) {
    throw new Rejection('invalid_request', `count must be 1-${limits.codes_per_request_max}`, 'count');
  }
  const codes: string[] = [];
  for (let i = 0; i < cmd.count; i++) {
    const code = ctx.env.newCode();
    codes.push(code);
    ctx.insertCoupon({
      id: ctx.id('cpn'),
      campaign_id: c.id,
      user_id: null,
      code,
      kind: 'unique',
      status: 'active',
      expires_at_ms: c.ends_at_ms,
      created_at_ms: ctx.now_ms,
      updated_at_ms: ctx.now_ms,
    });
  }
  ctx.audit(cmd.actor, 'codes.generated', c.id, { count: cmd.count });
  return { codes };
}
