import { availableMinor, type Campaign } from '../domain/campaign.ts';
import { type Coupon, claimedCouponExpiry } from '../domain/coupon.ts';
import { assert, Rejection } from '../domain/errors.ts';
import { checkGrab, type RedEnvelope } from '../domain/red-envelope-campaign.ts';
import type { BatchLoad } from '../store/port.ts';
import type { BatchContext } from './batch-context.ts';
import type { Command } from './commands.ts';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

/** What a grab answers (and what an idempotent replay answers again). */
export interface GrabResult {
  envelope_id: string;
  amount_minor: number;
  coupon: Coupon;
}

function envelopeOf(ctx: BatchContext, envelope_id: string): RedEnvelope {
  const env = ctx.campaign.red_envelope;
  if (!env || env.id !== envelope_id) throw new Rejection('not_found', 'no such red envelope');
  return env;
}

/**
 * The packets a batch of `grabs` grabs may pop: the next ones in order, read under the campaign row
 * lock. Refused grabs only leave some of them unused.
 */
export function packetsToLoad(c: Campaign, grabs: number): BatchLoad['packets'] {
  const env = c.red_envelope;
  if (!env || grabs === 0) return undefined;
  const count = Math.min(grabs, env.count - env.grabbed_count);
  return count > 0 ? { from_idx: env.grabbed_count, count } : undefined;
}

/**
 * Pops the next pre-split packet and turns it into a fixed-value coupon for the grabber. The amount was
 * fixed at creation, so a grab moves no money: it only assigns a packet, and the packets sum to the total.
 */
export function grab(ctx: BatchContext, cmd: Cmd<'grab'>): GrabResult {
  const c = ctx.campaign;
  const env = envelopeOf(ctx, cmd.envelope_id);
  const claim_key = `claim:${cmd.user_id}` as const;
  const refusal = checkGrab(c, env, ctx.usageOf(claim_key), ctx.now_ms);
  if (refusal) throw refusal;
  const idx = env.grabbed_count;
  const packet = ctx.packets.get(idx);
  assert(packet && packet.campaign_id === c.id && packet.grabbed_by === null, `packet ${idx} of ${c.id} not poppable`);
  const coupon: Coupon = {
    id: ctx.id('cpn'),
    campaign_id: c.id,
    user_id: cmd.user_id,
    code: ctx.env.newIssuedCode(),
    kind: 'claimed',
    status: 'active',
    expires_at_ms: claimedCouponExpiry(ctx.now_ms, c.coupon_ttl_s, c.ends_at_ms),
    value_minor: packet.amount_minor,
    created_at_ms: ctx.now_ms,
    updated_at_ms: ctx.now_ms,
  };
  ctx.insertCoupon(coupon);
  ctx.addUsage(claim_key, 1);
  const grabbed = { ...packet, grabbed_by: cmd.user_id, coupon_id: coupon.id, grabbed_at_ms: ctx.now_ms };
  ctx.packets.set(idx, grabbed);
  ctx.writes.packets_update ??= [];
  ctx.writes.packets_update.push(grabbed);
  const next: RedEnvelope = { ...env, grabbed_count: idx + 1, grabbed_minor: env.grabbed_minor + packet.amount_minor };
  assert(next.grabbed_minor <= next.total_minor, `envelope ${env.id} paid out more than its total`);
  assert(next.grabbed_count < next.count || next.grabbed_minor === next.total_minor, `envelope ${env.id} short`);
  c.red_envelope = next;
  c.claimed_count += 1;
  ctx.change(cmd.actor, 'red_envelope.grabbed', coupon.id, {
    envelope_id: env.id,
    user_id: cmd.user_id,
    idx,
    amount_minor: packet.amount_minor,
    expires_at_ms: coupon.expires_at_ms,
  });
  // The code is left out: events go to webhooks, and the coupon id is enough to follow it.
  ctx.event('red_envelope.grabbed', {
    envelope_id: env.id,
    campaign_id: c.id,
    user_id: cmd.user_id,
    amount_minor: packet.amount_minor,
    coupon_id: coupon.id,
    currency: c.currency,
  });
  return { envelope_id: env.id, amount_minor: packet.amount_minor, coupon: { ...coupon } };
}

/**
 * After expiry, gives the ungrabbed remainder back: the backing budget shrinks by it, so the budget
 * equals what was grabbed and still covers every grabbed coupon not yet redeemed. Once only.
 */
export function settle(ctx: BatchContext, cmd: Cmd<'settle_envelope'>): RedEnvelope {
  const c = ctx.campaign;
  const env = envelopeOf(ctx, cmd.envelope_id);
  if (env.settled_at_ms !== null) return { ...env };
  if (ctx.now_ms < env.expires_at_ms) throw new Rejection('invalid_state', 'the red envelope has not expired yet');
  const refund_minor = env.total_minor - env.grabbed_minor;
  assert(refund_minor >= 0 && refund_minor <= availableMinor(c), `envelope ${env.id}: refund exceeds available`);
  c.budget_minor -= refund_minor;
  c.red_envelope = { ...env, refunded_minor: refund_minor, settled_at_ms: ctx.now_ms };
  ctx.writes.bulk.push({ kind: 'settle_red_envelope', at_ms: ctx.now_ms });
  ctx.audit(cmd.actor, 'red_envelope.expired', env.id, {
    refunded_minor: refund_minor,
    grabbed_count: env.grabbed_count,
    grabbed_minor: env.grabbed_minor,
    budget_minor: c.budget_minor,
  });
  return { ...c.red_envelope };
}
