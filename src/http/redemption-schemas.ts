import { Type } from '@sinclair/typebox';
import { Body, Id, listFields, Money, Name, Nullable, OrderCurrency, Query } from './schemas.ts';

export const ClaimCreate = Body({ campaign_id: Id, user_id: Name });

export const CouponView = Type.Object({
  id: Type.String(),
  campaign_id: Type.String(),
  user_id: Nullable(Type.String()),
  code: Type.String(),
  status: Type.String(),
  expires_at: Type.String(),
});

export const Order = Body({
  id: Name,
  merchant_id: Name,
  amount_minor: Money,
  currency: OrderCurrency,
  product_kind: Name,
});

/** One of code or coupon_id names the coupon; the route checks that exactly one is given. */
export const RedemptionCreate = Body({
  user_id: Name,
  code: Type.Optional(Name),
  coupon_id: Type.Optional(Id),
  order: Order,
  device_id: Type.Optional(Nullable(Name)),
  ip: Type.Optional(
    Nullable(
      Type.String({
        minLength: 2,
        maxLength: 45,
        description:
          "The shopper's IPv4 or IPv6 address, for per-IP velocity limits and the code-guessing lockout; absent or null: none counted (never the caller's own address)",
      }),
    ),
  ),
  confirm: Type.Optional(Type.Boolean()),
});

export const ValidationView = Type.Object({
  valid: Type.Boolean(),
  discount_minor: Type.Integer(),
  reason: Nullable(Type.Object({ code: Type.String(), message: Type.String() })),
});

export const ReverseBody = Body({ restore_coupon: Type.Optional(Type.Boolean()) });

export const EmptyBody = Body({});

export const RedemptionStatus = Type.Union(
  (['reserved', 'confirmed', 'released', 'reversed', 'frozen'] as const).map((s) => Type.Literal(s)),
);

export const RedemptionListQuery = Query({
  ...listFields('rdm'),
  campaign_id: Type.Optional(Id),
  merchant_id: Type.Optional(Name),
  status: Type.Optional(RedemptionStatus),
});

export const RedemptionView = Type.Object({
  id: Type.String(),
  status: RedemptionStatus,
  discount_minor: Type.Integer(),
  coupon_id: Type.String(),
  campaign_id: Type.String(),
  user_id: Type.String(),
  merchant_id: Type.String(),
  order: Type.Object({
    id: Type.String(),
    merchant_id: Type.String(),
    amount_minor: Type.Integer(),
    currency: Type.String(),
    product_kind: Type.String(),
  }),
  hold_expires_at: Nullable(Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
