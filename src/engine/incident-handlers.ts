import type { Alert } from '../domain/incident.ts';
import type { BatchContext } from './batch-context.ts';
import { campaignAction } from './campaign-handlers.ts';
import type { Command } from './commands.ts';
import { countUsage } from './redeem-handlers.ts';

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
  const pause = cmd.pause && c.auto_pause && c.status === 'active';
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

/** Reverses an incident's frozen redemptions: the budget gets the money back; the order system refunds. */
export function reverseMany(ctx: BatchContext, cmd: Cmd<'reverse_many'>): unknown {
  const c = ctx.campaign;
  let count = 0;
  let minor = 0;
  for (const id of cmd.redemption_ids) {
    const r = ctx.redemption(id);
    if (!r || r.campaign_id !== c.id || r.status !== 'frozen') continue;
    c.spent_minor -= r.discount_minor;
    c.frozen_minor -= r.discount_minor;
    c.frozen_count -= 1;
    c.reversed_minor += r.discount_minor;
    c.reversed_count += 1;
    ctx.updateRedemption(r, { status: 'reversed' });
    countUsage(ctx, r, -1);
    ctx.event('redemption.reversed', { ...r, incident_id: cmd.incident_id });
    count += 1;
    minor += r.discount_minor;
  }
  if (count > 0) ctx.audit(cmd.actor, 'redemptions.reversed', cmd.incident_id, { count, discount_minor: minor });
  return { count, discount_minor: minor };
}

/** Revokes every active coupon of the campaign for an incident; the store counts them for the report. */
export function revokeCoupons(ctx: BatchContext, cmd: Cmd<'revoke_coupons'>): unknown {
  ctx.writes.bulk.push({ kind: 'incident_revoke_coupons', incident_id: cmd.incident_id, at_ms: ctx.now_ms });
  ctx.audit(cmd.actor, 'coupons.revoked', cmd.incident_id, { incident_id: cmd.incident_id });
  return null;
}
