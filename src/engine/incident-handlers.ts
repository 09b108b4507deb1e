import { isSingleUse } from '../domain/coupon.ts';
import { assert, Rejection } from '../domain/errors.ts';
import type { Alert, Breakdown, IncidentStatus, MemberOutcome } from '../domain/incident.ts';
import type { Redemption } from '../domain/redemption.ts';
import type { IncidentFence } from '../store/port-incidents.ts';
import type { BatchContext } from './batch-context.ts';
import { campaignAction } from './campaign-handlers.ts';
import type { Command } from './commands.ts';
import { countUsage, returnHold } from './redeem-handlers.ts';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

/** Why the detector paused, in the campaign's status_reason and audit. */
function pauseReason(a: Alert): string {
  const where = a.subject ?? a.merchant_id;
  const at = where === null ? '' : ` at ${where}`;
  return `detector: ${a.kind}${at} (observed ${round(a.observed)}, baseline ${round(a.baseline)}); alert ${a.id}`;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

/**
 * Records a detector alarm as an alert and, when it is a pausing kind and the campaign allows
 * auto-pause, pauses the campaign: alert, pause, audit and events commit in one transaction.
 */
export function raiseAlert(ctx: BatchContext, cmd: Cmd<'alert'>): unknown {
  const c = ctx.campaign;
  // A node judges budget burn on its last committed copy of the campaign, which may predate a resume made
  // on another node: that burn is the spending the resume found in order, so it is recorded, not paused on.
  const before_resume =
    cmd.alarm.kind === 'budget_burn' &&
    cmd.resumed_at_ms !== undefined &&
    cmd.resumed_at_ms !== (c.burn_base?.at_ms ?? null);
  const pause = cmd.pause && c.auto_pause && c.status === 'active' && !before_resume;
  const { kind, merchant_id, subject, observed, baseline } = cmd.alarm;
  const alert: Alert = {
    id: ctx.id('alr'),
    kind,
    campaign_id: c.id,
    merchant_id,
    subject,
    observed,
    baseline,
    action: pause ? 'paused' : 'alerted',
    created_at_ms: ctx.now_ms,
  };
  ctx.writes.bulk.push({ kind: 'insert_alert', alert });
  ctx.audit(cmd.actor, 'alert.raised', alert.id, alert);
  ctx.event('alert.raised', alert);
  if (pause) {
    const reason = pauseReason(alert);
    campaignAction(ctx, { type: 'action', action: 'pause', reason, approval_threshold_minor: 0, actor: cmd.actor });
  }
  return alert;
}

/**
 * The incident as this batch sees it, under the campaign row lock: it must be in `status` and
 * held by the process that sent the command. A process that lost the work (it stalled past its
 * lease and another took over) or is late (the incident moved on) applies nothing.
 */
function heldFence(ctx: BatchContext, cmd: { incident_id: string; owner: string }, status: IncidentStatus) {
  const fence = ctx.incidentFence(cmd.incident_id);
  if (!fence || fence.status !== status || fence.lease_owner !== cmd.owner) {
    throw new Rejection('invalid_state', `incident ${cmd.incident_id} is not ${status} under this process`);
  }
  return fence;
}

/**
 * One chain entry per bulk batch that names every redemption it moved with its discount (and,
 * for a resolution, the members it found no longer frozen), so the chain itself says which rows
 * an incident froze, released and settled; verify holds incident_redemptions and
 * incident_releases to it.
 */
function auditBulk(
  ctx: BatchContext,
  cmd: { actor: string | null; incident_id: string },
  action: string,
  moved: readonly Redemption[],
  skipped: readonly string[] = [],
): Breakdown {
  const discount_minor = moved.reduce((sum, r) => sum + r.discount_minor, 0);
  const data = {
    count: moved.length,
    discount_minor,
    redemption_ids: moved.map((r) => r.id),
    discounts_minor: moved.map((r) => r.discount_minor),
    ...(skipped.length > 0 ? { skipped_ids: skipped } : {}),
  };
  if (moved.length > 0 || skipped.length > 0) ctx.audit(cmd.actor, action, cmd.incident_id, data);
  return { count: moved.length, discount_minor };
}

/** What one freeze batch did: confirmed redemptions it froze, holds it released. */
export interface FreezeOutcome {
  frozen: Breakdown;
  released: Breakdown;
}

/**
 * Freezes the confirmed redemptions in scope (spent, held for review) and releases the holds in
 * scope. A hold is never frozen (DESIGN.md's state machine): its checkout has not confirmed the
 * order, which may be abandoned or expire, so honouring it would confirm an order nobody
 * confirmed and reversing it would refund one nobody paid. It is given back as releaseHold does:
 * budget and limits return, and its single-use coupon goes back to active, for the revoke step
 * (it runs after this one) to revoke when the incident asks for it.
 *
 * The ids it froze are recorded for the incident, so its resolution acts on exactly those; the
 * holds it released are counted for the report. Each kind is one chain entry naming its ids
 * (`redemptions.released`, `redemptions.frozen`). A row already frozen or released (a repeated
 * batch after a crash) is not live, so nothing moves twice. Releasing emits no event, as a
 * release never does.
 */
export function freeze(ctx: BatchContext, cmd: Cmd<'freeze'>): FreezeOutcome {
  heldFence(ctx, cmd, 'opening');
  const c = ctx.campaign;
  const frozen: Redemption[] = [];
  const released: Redemption[] = [];
  for (const id of cmd.redemption_ids) {
    const r = ctx.redemption(id);
    if (!r || r.campaign_id !== c.id) continue;
    if (r.status === 'reserved') {
      returnHold(ctx, r);
      released.push(r);
    } else if (r.status === 'confirmed') {
      c.confirmed_count -= 1;
      c.frozen_minor += r.discount_minor;
      c.frozen_count += 1;
      ctx.updateRedemption(r, { status: 'frozen' });
      ctx.event('redemption.frozen', { ...r, incident_id: cmd.incident_id });
      frozen.push(r);
    }
  }
  const incident_id = cmd.incident_id;
  const out = {
    released: auditBulk(ctx, cmd, 'redemptions.released', released),
    frozen: auditBulk(ctx, cmd, 'redemptions.frozen', frozen),
  };
  if (released.length > 0) {
    const { count: holds, discount_minor } = out.released;
    ctx.writes.bulk.push({ kind: 'incident_released', incident_id, holds, discount_minor });
  }
  if (frozen.length > 0) {
    ctx.writes.bulk.push({ kind: 'incident_members', incident_id, redemption_ids: frozen.map((r) => r.id) });
  }
  return out;
}

/**
 * Settles members of a resolving incident: each pending one still frozen is moved (and marked
 * `outcome`), each pending one no longer frozen (reversed one by one meanwhile) is marked skipped.
 * A member settled before (a batch repeated after a crash) is not pending, so none is moved twice,
 * and a row another incident froze since (after this one honoured it) is not this one's to move.
 */
function settle(
  ctx: BatchContext,
  cmd: Cmd<'unfreeze'> | Cmd<'reverse_many'>,
  outcome: Exclude<MemberOutcome, 'skipped'>,
  move: (r: Redemption) => void,
): Breakdown {
  const fence: IncidentFence = heldFence(ctx, cmd, 'resolving');
  const moved: Redemption[] = [];
  const skipped: string[] = [];
  for (const id of cmd.redemption_ids) {
    if (!fence.pending.delete(id)) continue;
    const r = ctx.redemption(id);
    if (!r || r.campaign_id !== ctx.campaign.id || r.status !== 'frozen') {
      skipped.push(id);
      continue;
    }
    move(r);
    moved.push(r);
  }
  const incident_id = cmd.incident_id;
  if (moved.length > 0) {
    ctx.writes.bulk.push({ kind: 'incident_outcomes', incident_id, outcome, redemption_ids: moved.map((r) => r.id) });
  }
  if (skipped.length > 0) {
    ctx.writes.bulk.push({ kind: 'incident_outcomes', incident_id, outcome: 'skipped', redemption_ids: skipped });
  }
  return auditBulk(ctx, cmd, `redemptions.${outcome}`, moved, skipped);
}

/** Reverses an incident's frozen redemptions: the budget gets the money back; the order system refunds. */
export function reverseMany(ctx: BatchContext, cmd: Cmd<'reverse_many'>): unknown {
  const c = ctx.campaign;
  return settle(ctx, cmd, 'reversed', (r) => {
    c.spent_minor -= r.discount_minor;
    c.frozen_minor -= r.discount_minor;
    c.frozen_count -= 1;
    c.reversed_minor += r.discount_minor;
    c.reversed_count += 1;
    ctx.updateRedemption(r, { status: 'reversed' });
    countUsage(ctx, r, -1);
    ctx.event('redemption.reversed', { ...r, incident_id: cmd.incident_id });
  });
}

/**
 * Honours an incident's frozen redemptions: they become confirmed and the money stays spent.
 * Each is announced as `redemption.confirmed` (with the incident's id), as reversing announces
 * `redemption.reversed`: a receiver that held an order on `redemption.frozen` learns it may go on.
 */
export function unfreeze(ctx: BatchContext, cmd: Cmd<'unfreeze'>): unknown {
  const c = ctx.campaign;
  return settle(ctx, cmd, 'honoured', (r) => {
    c.frozen_minor -= r.discount_minor;
    c.frozen_count -= 1;
    c.confirmed_count += 1;
    ctx.updateRedemption(r, { status: 'confirmed' });
    ctx.event('redemption.confirmed', { ...r, incident_id: cmd.incident_id });
  });
}

/**
 * Revokes the listed coupons of the campaign not redeemed yet, for an incident: the active ones and
 * the single-use ones on hold (`reserved`). A hold is left as it is (its order is in flight; only
 * freeze_redemptions releases it): confirmed, it counts as any other and its coupon stays revoked
 * (so no reversal restores it); released or expired, it no longer gives the coupon back
 * (releaseHold restores only a `reserved` coupon).
 *
 * It also raises the campaign's revoke_through_id to the incident's bound (the worker sends one
 * batch with no coupons first, so the bound holds before the coupons are read): from then on a
 * reversal with restore_coupon revokes a coupon up to the bound instead of making it active, so a
 * coupon redeemed before the incident, or frozen and reversed one by one, does not redeem again.
 * The entry names each coupon and the bound, and the store adds the count to the incident's
 * (revoked_coupons).
 */
export function revokeCoupons(ctx: BatchContext, cmd: Cmd<'revoke_coupons'>): unknown {
  heldFence(ctx, cmd, 'opening');
  const c = ctx.campaign;
  const revoked: string[] = [];
  for (const id of cmd.coupon_ids) {
    const coupon = ctx.coupon(id);
    if (!coupon || coupon.campaign_id !== c.id) continue;
    if (coupon.status !== 'active' && coupon.status !== 'reserved') continue;
    // Only a single-use coupon is ever reserved: a shared one stays active under its holds.
    if (coupon.status === 'reserved') assert(isSingleUse(coupon), `shared coupon ${id} is reserved`);
    ctx.setCouponStatus(coupon, 'revoked');
    revoked.push(id);
  }
  const raised = c.revoke_through_id === undefined || c.revoke_through_id < cmd.through_id;
  if (raised) c.revoke_through_id = cmd.through_id;
  if (revoked.length === 0 && !raised) return { count: 0 };
  const incident_id = cmd.incident_id;
  if (revoked.length > 0) {
    ctx.writes.bulk.push({ kind: 'incident_revoked', incident_id, coupons: revoked.length, at_ms: ctx.now_ms });
  }
  const data = { count: revoked.length, coupon_ids: revoked, through_id: cmd.through_id };
  ctx.audit(cmd.actor, 'coupons.revoked', incident_id, data);
  return { count: revoked.length };
}
