import assert from 'node:assert/strict';
import type { KeyName } from '../http/harness.ts';
import type { BoundCoupon, Json } from './driver-compare.ts';
import type { RefModel } from './reference.ts';
import type { RefEnvelope } from './reference-envelope.ts';
import type { IncidentAction, RefIncidents } from './reference-incidents.ts';
import type { Expect, Idem, RefOrder } from './reference-types.ts';
import { kinds, merchants, type OrderGen, type Step } from './steps.ts';

/** What building a request needs: the sequence's names, its model, and the server ids bound so far. */
export interface RequestContext {
  run: number;
  campaign_id: string;
  model: RefModel;
  incidents: RefIncidents;
  coupons: Map<string, BoundCoupon>;
  redemptions: Map<string, string>;
  incidentIds: Map<string, string>;
  /** red_envelope mode: the envelope backing the campaign. */
  envelope: { id: string; model: RefEnvelope } | null;
}

/** A concrete request and how to ask the model about it (with the request's idempotency key, if any). */
export interface Request {
  key: KeyName;
  url: string;
  body: Json;
  ask: (idem: Idem | null) => Expect;
}

const incidentActions: IncidentAction[] = ['pause_campaigns', 'freeze_redemptions', 'revoke_unredeemed'];

export function userOf(run: number, n: number): string {
  return `s${run}u${n}`;
}

/** Each sequence checks out from its own address, so lockouts of one never reach another. */
export function ipOf(run: number): string {
  return `10.${(run >> 16) & 255}.${(run >> 8) & 255}.${run & 255}`;
}

function orderOf(run: number, o: OrderGen): { wire: Json; ref: RefOrder } {
  const ref: RefOrder = {
    id: `s${run}o${o.n}`,
    merchant_id: merchants[o.merchant] ?? 'm0',
    amount_minor: o.amount_minor,
    currency: o.usd ? 'USD' : 'CNY',
    product_kind: kinds[o.kind] ?? 'merchandise',
  };
  return { wire: { ...ref }, ref };
}

function pick<T>(items: T[], i: number): T | undefined {
  return items.length === 0 ? undefined : items[i % items.length];
}

/**
 * How a request names a coupon. A unique code is a bearer secret that only its code names (API.md:
 * "Unique codes are bearer codes"); its id is refused like an unknown one, which the engine and
 * HTTP tests check, so here it is always sent by code and `by_id` varies claimed and shared ones.
 */
function couponArg(c: RequestContext, ref: string, by_id: boolean): Json {
  const bound = c.coupons.get(ref);
  assert.ok(bound, `coupon ${ref} is bound`);
  return by_id && !bound.code_only ? { coupon_id: bound.id } : { code: bound.code };
}

function checkout(c: RequestContext, step: Extract<Step, { t: 'redeem' | 'validate' }>): Request | null {
  const m = c.model;
  const ref = step.coupon < 0 ? null : pick([...c.coupons.keys()], step.coupon);
  if (ref === undefined) return null;
  const owner = ref === null ? null : (m.coupons.get(ref)?.user_id ?? null);
  const user_id = step.owner && owner !== null ? owner : userOf(c.run, step.user);
  const order = orderOf(c.run, step.order);
  const named = ref === null ? { code: `NOPE-${c.run}` } : couponArg(c, ref, step.by_id);
  const body: Json = { user_id, ...named, order: order.wire, ip: ipOf(c.run) };
  if (step.t === 'validate')
    return { key: 'checkout', url: '/v1/validations', body, ask: (i) => m.validate(user_id, ref, order.ref, i) };
  body.confirm = step.confirm;
  return {
    key: 'checkout',
    url: '/v1/redemptions',
    body,
    ask: (i) => m.redeem(user_id, ref, order.ref, step.confirm, i),
  };
}

/** The request a step sends; null when there is nothing to do yet (no coupon, no redemption). */
export function requestOf(c: RequestContext, step: Step): Request | null {
  const m = c.model;
  switch (step.t) {
    case 'claim': {
      // Claims in a code mode are refused (400); a few show it, the rest would be noise.
      if (m.spec.code_mode !== 'claim' && step.user !== 0) return null;
      const user_id = userOf(c.run, step.user);
      return {
        key: 'checkout',
        url: '/v1/claims',
        body: { campaign_id: c.campaign_id, user_id },
        ask: (i) => m.claim(user_id, i),
      };
    }
    case 'grab': {
      if (!c.envelope) return null;
      const { id, model } = c.envelope;
      const user_id = userOf(c.run, step.user);
      return {
        key: 'checkout',
        url: `/v1/red-envelopes/${id}/grab`,
        body: { user_id },
        ask: (i) => model.grab(user_id, i),
      };
    }
    case 'redeem':
    case 'validate':
      return checkout(c, step);
    case 'confirm':
    case 'release':
    case 'reverse': {
      const ref = pick([...c.redemptions.keys()], step.r);
      if (ref === undefined) return null;
      const restore = step.t === 'reverse' ? step.restore : false;
      const body: Json = step.t === 'reverse' ? { restore_coupon: restore } : {};
      const url = `/v1/redemptions/${c.redemptions.get(ref)}/${step.t}`;
      return { key: 'checkout', url, body, ask: (i) => m.move(step.t, ref, restore, i) };
    }
    case 'pause':
    case 'resume':
    case 'revoke': {
      const body: Json = step.t === 'pause' ? { reason: 'model' } : {};
      return { key: 'admin', url: `/v1/campaigns/${c.campaign_id}/${step.t}`, body, ask: (i) => m.action(step.t, i) };
    }
    case 'incident': {
      const merchant_ids = step.merchants === null ? null : step.merchants.map((n) => merchants[n] ?? 'm0');
      const actions = incidentActions.filter((_, bit) => (step.actions >> bit) & 1);
      const scope = { campaign_ids: [c.campaign_id], ...(merchant_ids ? { merchant_ids } : {}) };
      const body = { title: 'model', scope, actions };
      return { key: 'admin', url: '/v1/incidents', body, ask: (i) => c.incidents.open(merchant_ids, actions, i) };
    }
    case 'resolve': {
      const ref = pick([...c.incidentIds.keys()], step.i);
      if (ref === undefined) return null;
      const resolution = step.reverse ? 'reverse' : 'honour';
      const url = `/v1/incidents/${c.incidentIds.get(ref)}/resolve`;
      return { key: 'admin', url, body: { resolution }, ask: (i) => c.incidents.resolve(ref, resolution, i) };
    }
    default:
      return null;
  }
}
