import { Type } from '@sinclair/typebox';
import { limits } from '../config/limits.ts';
import {
  Body,
  Currency,
  Id,
  listFields,
  Money,
  Name,
  Nullable,
  PositiveInt,
  Query,
  Reason,
  Timestamp,
} from './schemas.ts';

const BasisPoints = Type.Integer({ minimum: 0, maximum: 10_000, description: '1500 = 15%' });

export const Discount = Type.Union([
  Body({ type: Type.Literal('fixed'), amount_minor: Money }),
  Body({ type: Type.Literal('percent'), percent_bp: BasisPoints, max_discount_minor: Type.Optional(Nullable(Money)) }),
  Body({
    type: Type.Literal('tiered'),
    tiers: Type.Array(Body({ min_spend_minor: Money, amount_minor: Money }), {
      minItems: 1,
      maxItems: limits.tiers_max,
    }),
  }),
]);

export const Audience = Type.Union([
  Body({ type: Type.Literal('public') }),
  Body({
    type: Type.Literal('allowlist'),
    user_ids: Type.Array(Name, { minItems: 1, maxItems: limits.allowlist_users_max }),
  }),
]);

const PerWindow = Type.Optional(Nullable(PositiveInt));

export const Velocity = Body({
  per_user_per_minute: PerWindow,
  per_device_per_minute: PerWindow,
  per_ip_per_minute: PerWindow,
  per_user_per_day: PerWindow,
  per_device_per_day: PerWindow,
  per_ip_per_day: PerWindow,
});

export const CodeMode = Type.Union([Type.Literal('claim'), Type.Literal('unique_codes'), Type.Literal('shared_code')]);

/** A red envelope's backing campaign shows `red_envelope`; such campaigns are made by POST /v1/red-envelopes only. */
const CodeModeView = Type.Union([CodeMode, Type.Literal('red_envelope')]);

const coupon_ttl_s_max = 10 * 366 * 24 * 3600;

export const CampaignCreate = Body(
  {
    name: Name,
    currency: Currency,
    discount: Discount,
    min_spend_minor: Type.Optional(Money),
    product_kinds: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 64, uniqueItems: true })),
    merchant_ids: Type.Optional(Nullable(Type.Array(Name, { minItems: 1, maxItems: limits.merchant_ids_max }))),
    audience: Type.Optional(Audience),
    starts_at: Timestamp,
    ends_at: Timestamp,
    coupon_ttl_s: Type.Optional(Nullable(Type.Integer({ minimum: 1, maximum: coupon_ttl_s_max }))),
    budget_minor: Money,
    max_redemptions: Type.Optional(Nullable(PositiveInt)),
    per_user_limit: Type.Optional(Nullable(PositiveInt)),
    per_merchant_limit: Type.Optional(Nullable(PositiveInt)),
    code_mode: Type.Optional(CodeMode),
    code: Type.Optional(Nullable(Name)),
    auto_pause: Type.Optional(Type.Boolean()),
    velocity: Type.Optional(Nullable(Velocity)),
  },
  'Creates a draft. product_kinds defaults to every kind that is not cash-equivalent.',
);

export const CampaignActionBody = Body({ reason: Type.Optional(Nullable(Reason)) });

export const CampaignApproveBody = Body(
  {
    reason: Type.Optional(Nullable(Reason)),
    expected_updated_at: Type.Optional(
      Type.String({
        pattern: Timestamp.pattern,
        maxLength: Timestamp.maxLength,
        description:
          "The campaign's updated_at as the approver reviewed it; if the campaign changed since: 409 invalid_state, nothing changes.",
      }),
    ),
  },
  'Every field may be left out, the body too: without expected_updated_at the campaign is approved as it stands.',
);

export const CodesBody = Body({ count: Type.Integer({ minimum: 1, maximum: limits.codes_per_request_max }) });

export const CodesView = Type.Object({ codes: Type.Array(Type.String()) });

export const CampaignStatus = Type.Union(
  (['draft', 'pending_approval', 'active', 'paused', 'ended', 'revoked'] as const).map((s) => Type.Literal(s)),
);

export const CampaignListQuery = Query({ ...listFields('cmp'), status: Type.Optional(CampaignStatus) });

export const LintFinding = Type.Object({
  rule: Type.String(),
  severity: Type.Union([Type.Literal('error'), Type.Literal('warning'), Type.Literal('info')]),
  message: Type.String(),
});

export const CampaignView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  status_reason: Type.Union([Type.String(), Type.Null()]),
  needs_approval: Type.Boolean({
    description:
      'paused with a change awaiting a second key: a pause outranks a review, so resume sends it to pending_approval, not active',
  }),
  currency: Type.String(),
  discount: Discount,
  min_spend_minor: Type.Integer(),
  product_kinds: Type.Array(Type.String()),
  merchant_ids: Nullable(Type.Array(Type.String())),
  audience: Audience,
  starts_at: Type.String(),
  ends_at: Type.String(),
  coupon_ttl_s: Nullable(Type.Integer()),
  budget_minor: Type.Integer(),
  max_redemptions: Nullable(Type.Integer()),
  per_user_limit: Nullable(Type.Integer()),
  per_merchant_limit: Nullable(Type.Integer()),
  code_mode: CodeModeView,
  code: Nullable(Type.String()),
  auto_pause: Type.Boolean(),
  velocity: Nullable(Velocity),
  lint: Type.Array(LintFinding),
  max_exposure_minor: Type.Integer(),
  budget: Type.Object({
    total_minor: Type.Integer(),
    reserved_minor: Type.Integer(),
    spent_minor: Type.Integer(),
    available_minor: Type.Integer(),
  }),
  counts: Type.Object({ claimed: Type.Integer(), redeemed: Type.Integer() }),
  created_at: Type.String(),
  updated_at: Type.String(),
});

const Breakdown = { count: Type.Integer(), discount_minor: Type.Integer() };

export const ExposureView = Type.Object({
  campaign_id: Id,
  budget_minor: Type.Integer(),
  max_exposure_minor: Type.Integer(),
  reserved_minor: Type.Integer(),
  spent_minor: Type.Integer(),
  frozen_minor: Type.Integer(),
  reversed_minor: Type.Integer(),
  available_minor: Type.Integer(),
  counts: Type.Object({
    reserved: Type.Integer(),
    confirmed: Type.Integer(),
    frozen: Type.Integer(),
    released: Type.Integer(),
    reversed: Type.Integer(),
  }),
  by_merchant: Type.Array(Type.Object({ merchant_id: Type.String(), ...Breakdown })),
  by_product_kind: Type.Array(Type.Object({ product_kind: Type.String(), ...Breakdown })),
});
