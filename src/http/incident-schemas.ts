import { Type } from '@sinclair/typebox';
import { limits } from '../config/limits.ts';
import { incidentActions } from '../domain/incident.ts';
import { Body, Id, listFields, Name, Nullable, Query, Reason, Text, Timestamp } from './schemas.ts';

const Literals = <T extends string>(values: readonly T[]) => Type.Union(values.map((v) => Type.Literal(v)));

export const AlertKind = Literals([
  'rate_spike',
  'merchant_spike',
  'budget_burn',
  'heavy_hitter',
  'cash_equivalent_share',
] as const);

export const AlertView = Type.Object({
  id: Type.String(),
  kind: AlertKind,
  campaign_id: Type.String(),
  merchant_id: Nullable(Type.String()),
  subject: Nullable(Type.String({ description: '`device:<id>` or `ip:<address>` for heavy hitters' })),
  observed: Type.Number(),
  baseline: Type.Number(),
  action: Literals(['paused', 'alerted'] as const),
  created_at: Type.String(),
});

export const AlertListQuery = Query({ ...listFields('alr'), campaign_id: Type.Optional(Id) });

export const EmergencyStopBody = Body({ reason: Reason });

export const EmergencyStopView = Type.Object({
  paused: Type.Integer(),
  campaign_ids: Type.Array(Type.String()),
});

const IncidentAction = Literals(incidentActions);

/** Each field may be left out or null (as an incident shows its scope), meaning no bound of that kind. */
export const IncidentScopeInput = Body({
  campaign_ids: Type.Optional(
    Nullable(Type.Array(Id, { minItems: 1, maxItems: limits.incident_campaigns_max, uniqueItems: true })),
  ),
  merchant_ids: Type.Optional(
    Nullable(Type.Array(Name, { minItems: 1, maxItems: limits.merchant_ids_max, uniqueItems: true })),
  ),
  from: Type.Optional(Nullable(Timestamp)),
  to: Type.Optional(Nullable(Timestamp)),
});

export const IncidentCreate = Body({
  title: Text(limits.incident_title_chars_max),
  scope: IncidentScopeInput,
  actions: Type.Array(IncidentAction, { maxItems: incidentActions.length, uniqueItems: true }),
});

export const IncidentResolve = Body({ resolution: Literals(['reverse', 'honour'] as const) });

const Breakdown = { count: Type.Integer(), discount_minor: Type.Integer() };

export const IncidentView = Type.Object({
  id: Type.String(),
  status: Literals(['opening', 'open', 'resolving', 'resolved'] as const),
  title: Type.String(),
  scope: Type.Object({
    campaign_ids: Nullable(Type.Array(Type.String())),
    merchant_ids: Nullable(Type.Array(Type.String())),
    from: Nullable(Type.String()),
    to: Nullable(Type.String()),
  }),
  actions: Type.Array(IncidentAction),
  campaign_ids: Type.Array(Type.String(), { description: 'the campaigns the scope resolved to' }),
  report: Nullable(
    Type.Object({
      frozen_count: Type.Integer({ description: 'confirmed redemptions in scope, frozen (the breakdowns sum these)' }),
      frozen_minor: Type.Integer(),
      released_holds_count: Type.Integer({
        description: 'holds in scope, released (never confirmed, so never frozen): budget and limits returned',
      }),
      released_holds_minor: Type.Integer(),
      revoked_coupons: Type.Integer(),
      paused_campaigns: Type.Integer(),
      by_campaign: Type.Array(Type.Object({ campaign_id: Type.String(), ...Breakdown })),
      by_merchant: Type.Array(Type.Object({ merchant_id: Type.String(), ...Breakdown })),
      by_product_kind: Type.Array(Type.Object({ product_kind: Type.String(), ...Breakdown })),
    }),
  ),
  progress: Type.Object({
    phase: Type.String(),
    campaigns_total: Type.Integer(),
    campaigns_done: Type.Integer(),
    redemptions_done: Type.Integer(),
    updated_at: Type.String(),
  }),
  resolution: Nullable(Literals(['reverse', 'honour'] as const)),
  resolved: Nullable(Type.Object(Breakdown)),
  created_at: Type.String(),
  resolved_at: Nullable(Type.String()),
});
