import type { Static } from '@sinclair/typebox';
import type { Campaign } from '../domain/campaign.ts';
import { assert } from '../domain/errors.ts';
import { envelopeStatus, remainingMinor } from '../domain/red-envelope-campaign.ts';
import type { GrabResult } from '../engine/red-envelope-handlers.ts';
import type { GrabView, RedEnvelopeView } from './red-envelope-schemas.ts';
import { formatNullableTimestamp, formatTimestamp } from './time.ts';
import { couponView } from './views.ts';

export type RedEnvelopeWire = Static<typeof RedEnvelopeView>;
export type GrabWire = Static<typeof GrabView>;

/** An envelope as API.md shows it, from its backing campaign; the status depends on the time. */
export function redEnvelopeView(c: Campaign, now_ms: number): RedEnvelopeWire {
  const env = c.red_envelope;
  assert(env !== undefined, `campaign ${c.id} backs no red envelope`);
  return {
    id: env.id,
    campaign_id: c.id,
    currency: c.currency,
    total_minor: env.total_minor,
    count: env.count,
    min_amount_minor: env.min_amount_minor,
    expires_at: formatTimestamp(env.expires_at_ms),
    grabbed_count: env.grabbed_count,
    grabbed_minor: env.grabbed_minor,
    remaining_minor: remainingMinor(env),
    status: envelopeStatus(env, now_ms),
    campaign_status: c.status,
    refunded_minor: env.refunded_minor,
    refunded_at: formatNullableTimestamp(env.settled_at_ms),
    created_at: formatTimestamp(env.created_at_ms),
    coupon: {
      min_spend_minor: c.min_spend_minor,
      product_kinds: c.product_kinds,
      coupon_ttl_s: c.coupon_ttl_s ?? 0,
    },
  };
}

/**
 * The creation answer: the envelope as of its creation, so it depends only on the stored
 * campaign. An Idempotency-Key replay gets that same campaign back from the engine, and the
 * body must be the first one, not one whose status has since turned `expired`.
 */
export function createdEnvelopeView(c: Campaign): RedEnvelopeWire {
  const env = c.red_envelope;
  assert(env !== undefined, `campaign ${c.id} backs no red envelope`);
  return redEnvelopeView(c, env.created_at_ms);
}

export function grabView(g: GrabResult): GrabWire {
  return { amount_minor: g.amount_minor, coupon: { ...couponView(g.coupon), value_minor: g.amount_minor } };
}
