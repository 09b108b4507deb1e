import { liveRedemptions, restoredCouponStatus, type Velocity } from '../domain/campaign.ts';
import { sameVelocity } from '../domain/campaign-change.ts';
import { claimedCouponExpiry, isSingleUse } from '../domain/coupon.ts';
import { checkAudience, checkCampaignOpen, evaluateRedemption } from '../domain/eligibility.ts';
import { assert, Rejection } from '../domain/errors.ts';
import type { Order, Redemption } from '../domain/redemption.ts';
import type { UsageKey } from '../store/port.ts';
import type { BatchContext } from './batch-context.ts';
import type { Command } from './commands.ts';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

export function claim(ctx: BatchContext, cmd: Cmd<'claim'>): unknown {
  const c = ctx.campaign;
  if (c.code_mode !== 'claim') {
    throw new Rejection('invalid_request', `campaign issues ${c.code_mode}, not claims`, 'campaign_id');
  }
  const refusal = checkCampaignOpen(c, ctx.now_ms) ?? checkAudience(c, cmd.user_id);
  if (refusal) throw refusal;
  if (c.per_user_limit !== null && ctx.usageOf(`claim:${cmd.user_id}`) >= c.per_user_limit) {
    throw new Rejection('per_user_limit_reached', 'this user has claimed the limit already', 'user_id');
  }
  const coupon = {
    id: ctx.id('cpn'),
    campaign_id: c.id,
    user_id: cmd.user_id,
    code: ctx.env.newIssuedCode(),
    kind: 'claimed' as const,
    status: 'active' as const,
    expires_at_ms: claimedCouponExpiry(ctx.now_ms, c.coupon_ttl_s, c.ends_at_ms),
    created_at_ms: ctx.now_ms,
    updated_at_ms: ctx.now_ms,
  };
  ctx.insertCoupon(coupon);
  if (c.per_user_limit !== null) ctx.addUsage(`claim:${cmd.user_id}`, 1);
  c.claimed_count += 1;
  ctx.change(cmd.actor, 'coupon.claimed', coupon.id, { user_id: cmd.user_id, expires_at_ms: coupon.expires_at_ms });
  return { ...coupon };
}

/**
 * A reservation counted under velocity settings the locked campaign no longer has (changed on
 * another node since this node's copy was read): not decided, and not an answer (nothing recorded
 * under its Idempotency-Key). The engine counts it again under `velocity` and resubmits it.
 */
export class VelocityChanged extends Error {
  constructor(readonly velocity: Velocity | null) {
    super("the campaign's velocity settings changed");
  }
}

export function reserve(ctx: BatchContext, cmd: Cmd<'reserve'>): unknown {
  const c = ctx.campaign;
  if (!sameVelocity(c.velocity, cmd.velocity)) throw new VelocityChanged(c.velocity ?? null);
  const coupon = ctx.coupon(cmd.coupon_id);
  if (!coupon || coupon.campaign_id !== c.id) throw new Rejection('coupon_not_found', 'no such coupon');
  const verdict = evaluateRedemption({
    campaign: c,
    coupon,
    user_id: cmd.user_id,
    order: cmd.order,
    usage: {
      user_live: c.per_user_limit === null ? 0 : ctx.usageOf(`user:${cmd.user_id}`),
      merchant_live: c.per_merchant_limit === null ? 0 : ctx.usageOf(`merchant:${cmd.order.merchant_id}`),
      order_live: ctx.usageOf(orderKey(cmd.order)),
    },
    now_ms: ctx.now_ms,
  });
  if (verdict instanceof Rejection) throw verdict;
  const d = verdict.discount_minor;
  const r: Redemption = {
    id: ctx.id('rdm'),
    campaign_id: c.id,
    coupon_id: coupon.id,
    user_id: cmd.user_id,
    merchant_id: cmd.order.merchant_id,
    order_id: cmd.order.id,
    order_amount_minor: cmd.order.amount_minor,
    currency: cmd.order.currency,
    product_kind: cmd.order.product_kind,
    discount_minor: d,
    status: cmd.confirm ? 'confirmed' : 'reserved',
    hold_expires_at_ms: cmd.confirm ? null : ctx.now_ms + ctx.env.hold_ms,
    device_id: cmd.device_id,
    ip: cmd.ip,
    created_at_ms: ctx.now_ms,
    updated_at_ms: ctx.now_ms,
  };
  ctx.insertRedemption(r);
  if (cmd.confirm) {
    c.spent_minor += d;
    c.confirmed_count += 1;
    ctx.confirmed.push(r);
  } else {
    c.reserved_minor += d;
    c.reserved_count += 1;
  }
  if (isSingleUse(coupon)) ctx.setCouponStatus(coupon, cmd.confirm ? 'redeemed' : 'reserved');
  countUsage(ctx, r, 1);
  ctx.change(cmd.actor, `redemption.${r.status}`, r.id, auditData(r));
  if (cmd.confirm) ctx.event('redemption.confirmed', { ...r });
  assert(c.max_redemptions === null || liveRedemptions(c) <= c.max_redemptions);
  return { ...r };
}

/**
 * The counter of an order's live redemptions: `order:`, the order id with `%` and `:` escaped
 * (`%25`, `%3A`, so the next `:` ends it), `:`, the merchant id. The id comes first: order ids on a
 * platform grow with time, so a batch's new keys land together at the end of the index instead of
 * dirtying a page each. Migration 100 (SQLite and PostgreSQL) builds the same keys from stored rows.
 */
export function orderKey(order: Pick<Order, 'id' | 'merchant_id'>): UsageKey {
  return `order:${order.id.replaceAll('%', '%25').replaceAll(':', '%3A')}:${order.merchant_id}`;
}

/**
 * Usage counters exist only for limits that are set (a limit set later is recounted
 * from the redemption rows), so an unlimited hot campaign pays no per-user or per-merchant
 * writes; the order's counter is always kept (one discount per order, see checkLimits).
 */
export function countUsage(ctx: BatchContext, r: Redemption, delta: 1 | -1): void {
  ctx.addUsage(orderKey({ id: r.order_id, merchant_id: r.merchant_id }), delta);
  if (ctx.campaign.per_user_limit !== null) ctx.addUsage(`user:${r.user_id}`, delta);
  if (ctx.campaign.per_merchant_limit !== null) ctx.addUsage(`merchant:${r.merchant_id}`, delta);
}

function auditData(r: Redemption) {
  return {
    coupon_id: r.coupon_id,
    user_id: r.user_id,
    merchant_id: r.merchant_id,
    order_id: r.order_id,
    product_kind: r.product_kind,
    discount_minor: r.discount_minor,
  };
}

function redemptionOf(ctx: BatchContext, id: string): Redemption {
  const r = ctx.redemption(id);
  if (!r || r.campaign_id !== ctx.campaign.id) throw new Rejection('not_found', 'no such redemption');
  return r;
}

function wrongState(r: Redemption, verb: string): Rejection {
  return new Rejection('invalid_state', `cannot ${verb} a ${r.status} redemption`);
}

export function confirm(ctx: BatchContext, cmd: Cmd<'confirm'>): unknown {
  const c = ctx.campaign;
  const r = redemptionOf(ctx, cmd.redemption_id);
  if (r.status !== 'reserved') throw wrongState(r, 'confirm');
  if (r.hold_expires_at_ms !== null && ctx.now_ms >= r.hold_expires_at_ms) {
    throw new Rejection('invalid_state', 'the hold has expired');
  }
  if (c.status === 'paused') throw new Rejection('campaign_paused', 'campaign is paused');
  if (c.status === 'revoked') throw new Rejection('campaign_revoked', 'campaign is revoked');
  c.reserved_minor -= r.discount_minor;
  c.reserved_count -= 1;
  c.spent_minor += r.discount_minor;
  c.confirmed_count += 1;
  ctx.updateRedemption(r, { status: 'confirmed', hold_expires_at_ms: null });
  const coupon = ctx.coupon(r.coupon_id);
  // A coupon an incident revoked under this hold stays revoked: the order goes through, but as
  // `redeemed` a reversal with restore_coupon would hand back a coupon the incident took away.
  if (coupon && isSingleUse(coupon) && coupon.status === 'reserved') ctx.setCouponStatus(coupon, 'redeemed');
  ctx.confirmed.push(r);
  ctx.change(cmd.actor, 'redemption.confirmed', r.id, { discount_minor: r.discount_minor });
  ctx.event('redemption.confirmed', { ...r });
  return { ...r };
}

/**
 * Moves a hold to released: budget and limits return, and so does a single-use coupon still
 * `reserved` under it (one an incident revoked meanwhile stays revoked). The caller audits it.
 */
export function returnHold(ctx: BatchContext, r: Redemption): void {
  const c = ctx.campaign;
  assert(r.status === 'reserved', `redemption ${r.id} is ${r.status}, not a hold`);
  c.reserved_minor -= r.discount_minor;
  c.reserved_count -= 1;
  c.released_count += 1;
  ctx.updateRedemption(r, { status: 'released', hold_expires_at_ms: null });
  countUsage(ctx, r, -1);
  const coupon = ctx.coupon(r.coupon_id);
  if (coupon && isSingleUse(coupon) && coupon.status === 'reserved') ctx.setCouponStatus(coupon, 'active');
}

/** Gives a hold back (returnHold), recorded in the batch's entry with why. */
export function releaseHold(ctx: BatchContext, r: Redemption, actor: string | null, why: string): void {
  returnHold(ctx, r);
  ctx.change(actor, 'redemption.released', r.id, { discount_minor: r.discount_minor, why });
}

export function release(ctx: BatchContext, cmd: Cmd<'release'>): unknown {
  const r = redemptionOf(ctx, cmd.redemption_id);
  if (r.status !== 'reserved') throw wrongState(r, 'release');
  if (cmd.expired && (r.hold_expires_at_ms === null || ctx.now_ms < r.hold_expires_at_ms)) {
    throw wrongState(r, 'expire');
  }
  releaseHold(ctx, r, cmd.actor, cmd.expired ? 'hold_expired' : 'requested');
  return { ...r };
}

export function reverse(ctx: BatchContext, cmd: Cmd<'reverse'>): unknown {
  const c = ctx.campaign;
  const r = redemptionOf(ctx, cmd.redemption_id);
  if (r.status !== 'confirmed' && r.status !== 'frozen') throw wrongState(r, 'reverse');
  c.spent_minor -= r.discount_minor;
  if (r.status === 'frozen') {
    c.frozen_minor -= r.discount_minor;
    c.frozen_count -= 1;
  } else {
    c.confirmed_count -= 1;
  }
  c.reversed_minor += r.discount_minor;
  c.reversed_count += 1;
  ctx.updateRedemption(r, { status: 'reversed' });
  countUsage(ctx, r, -1);
  const coupon = ctx.coupon(r.coupon_id);
  let coupon_revoked = false;
  if (cmd.restore_coupon && coupon && isSingleUse(coupon) && coupon.status === 'redeemed') {
    // Not given back in a revoked campaign, nor when an incident's revocation covered it (it existed
    // when the coupons were taken away, so it is revoked as they were); the reversal goes through.
    const status = restoredCouponStatus(c, coupon.id);
    coupon_revoked = status === 'revoked';
    ctx.setCouponStatus(coupon, status);
  }
  ctx.change(cmd.actor, 'redemption.reversed', r.id, {
    discount_minor: r.discount_minor,
    restore_coupon: cmd.restore_coupon,
    ...(coupon_revoked ? { coupon_revoked } : {}),
  });
  ctx.event('redemption.reversed', { ...r });
  return { ...r };
}
