import { Type } from '@sinclair/typebox';
import { limits } from '../config/limits.ts';
import { envelopeLimits } from '../domain/red-envelope.ts';
import { CampaignStatus } from './campaign-schemas.ts';
import { CouponView } from './redemption-schemas.ts';
import { Body, Currency, listFields, Money, Name, Nullable, PositiveInt, Query, Timestamp } from './schemas.ts';

const EnvelopeMoney = Type.Integer({ minimum: 1, maximum: envelopeLimits.total_minor_max, description: 'minor units' });

export const RedEnvelopeCouponTerms = Body(
  {
    min_spend_minor: Type.Optional(Money),
    product_kinds: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 64, uniqueItems: true })),
    coupon_ttl_s: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.red_envelope_coupon_ttl_s_max })),
  },
  'What a grabbed coupon may buy and how long it lives after the grab (default 7 days).',
);

export const RedEnvelopeCreate = Body(
  {
    currency: Currency,
    total_minor: EnvelopeMoney,
    count: Type.Integer({ minimum: 1, maximum: limits.red_envelope_packets_max }),
    min_amount_minor: Type.Optional(EnvelopeMoney),
    expires_at: Timestamp,
    coupon: Type.Optional(RedEnvelopeCouponTerms),
  },
  'Splits total_minor into count random packets (each >= min_amount_minor, default 1) at creation.',
);

export const GrabBody = Body({ user_id: Name });

export const RedEnvelopeListQuery = Query(listFields('env'));

export const RedEnvelopeStatus = Type.Union([
  Type.Literal('active'),
  Type.Literal('exhausted'),
  Type.Literal('expired'),
]);

export const RedEnvelopeView = Type.Object({
  id: Type.String(),
  campaign_id: Type.String({ description: 'the backing campaign; grabbed coupons belong to it' }),
  currency: Type.String(),
  total_minor: Type.Integer(),
  count: Type.Integer(),
  min_amount_minor: Type.Integer(),
  expires_at: Type.String(),
  grabbed_count: Type.Integer(),
  grabbed_minor: Type.Integer(),
  remaining_minor: Type.Integer({ description: 'total - grabbed - refunded' }),
  status: RedEnvelopeStatus,
  campaign_status: Type.Union(CampaignStatus.anyOf, {
    description:
      "the backing campaign's status: grabs are refused unless it is active (an incident or the kill switch pauses it, revoking ends it)",
  }),
  refunded_minor: Type.Integer(),
  refunded_at: Nullable(Type.String()),
  created_at: Type.String(),
  coupon: Type.Object({
    min_spend_minor: Type.Integer(),
    product_kinds: Type.Array(Type.String()),
    coupon_ttl_s: Type.Integer(),
  }),
});

export const GrabbedCouponView = Type.Composite([CouponView, Type.Object({ value_minor: PositiveInt })]);

export const GrabView = Type.Object({ amount_minor: Type.Integer(), coupon: GrabbedCouponView });
