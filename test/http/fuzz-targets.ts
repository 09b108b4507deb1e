import assert from 'node:assert/strict';
import { charCount } from '../../src/domain/text.ts';
import type { CampaignWire, RedemptionWire } from '../../src/http/views.ts';
import {
  type Answer,
  activeCampaign,
  campaignBody,
  claim,
  type HttpHarness,
  httpHarness,
  type KeyName,
  type ListWire,
  orderBody,
} from './harness.ts';

/** The malformed-input fuzz: per field, the values it must refuse, and the endpoints to aim at. */
export type Kind =
  | 'name'
  | 'nullable_name'
  | 'money'
  | 'currency'
  | 'bool'
  | 'object'
  | 'count'
  | 'nullable_count'
  | 'timestamp'
  | 'ip'
  | 'reason'
  | 'names'
  | 'velocity'
  | 'scopes';

const huge = 'x'.repeat(100_000);
export const common = [[], {}, [1], true];

/** Values every field of a kind must refuse. */
export const badValues: Record<Kind, unknown[]> = {
  name: [1, true, {}, [], null, '', 'x'.repeat(129), huge, ['u1']],
  nullable_name: [1, true, {}, [], '', 'x'.repeat(129), huge],
  money: ['1', true, {}, [], null, -1, 1.5, 1e300, -1e300, 2 ** 53, -0.5, '1e3', 'NaN'],
  currency: ['cny', 'CN', 'CNYY', 1, null, '', [], 'C1Y'],
  bool: ['true', 1, 0, null, {}, [], 'false'],
  object: [[], null, 'o', 1, true, [{}]],
  count: [0, -1, 1.5, '5', 1e300, null, [], {}, 100_001],
  nullable_count: [0, -1, 1.5, '5', 1e300, [], {}, true],
  timestamp: ['2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', 'yesterday', '2026-01-01', 1, null, '', huge],
  ip: [1, true, {}, [], '', 'not-an-ip', '999.1.1.1', huge],
  reason: [1, '', 'x'.repeat(501), {}, [], true],
  names: ['m1', [], [1], [''], ['x'.repeat(129)], {}, 1],
  scopes: ['read', [], ['root'], [1], null, ['read', 'read'], {}],
  velocity: [
    'fast',
    [],
    1,
    { per_user_per_minute: 0 },
    { per_ip_per_minute: -1 },
    { per_user_per_minute: 1.5 },
    { bogus: 1 },
  ],
};

/** Whether a field might accept a value (an over-approximation), so random values that may be valid are skipped. */
export function mightAccept(kind: Kind, v: unknown): boolean {
  const isName = (x: unknown) => typeof x === 'string' && x.length >= 1 && charCount(x) <= 128;
  const isCount = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1;
  switch (kind) {
    case 'name':
      return isName(v);
    case 'nullable_name':
      return v === null || isName(v);
    case 'money':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    case 'bool':
      return typeof v === 'boolean';
    case 'currency':
      return typeof v === 'string' && /^[A-Z]{3}$/.test(v);
    case 'count':
      return isCount(v);
    case 'nullable_count':
      return v === null || isCount(v);
    case 'reason':
      return v === null || (typeof v === 'string' && v.length >= 1 && v.length <= 500);
    case 'ip':
    case 'timestamp':
      return v === null || typeof v === 'string';
    default:
      return typeof v === 'object';
  }
}

export interface Field {
  path: string[];
  kind: Kind;
  /** Deleting it must be refused too. */
  required: boolean;
}

export interface Target {
  label: string;
  method: 'POST' | 'GET';
  url: string;
  key: KeyName;
  base: Record<string, unknown>;
  fields: Field[];
}

const f = (path: string, kind: Kind, required = false): Field => ({ path: path.split('.'), kind, required });

export function withValue(
  base: Record<string, unknown>,
  path: string[],
  value: unknown,
  remove = false,
): Record<string, unknown> {
  const copy = structuredClone(base);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path[path.length - 1] ?? '';
  if (remove) delete node[last];
  else node[last] = value;
  return copy;
}

export function assertRefused(res: Answer, label: string): void {
  const text = JSON.stringify(res.body).slice(0, 300);
  assert.ok(res.status >= 400 && res.status < 500, `${label}: expected 4xx, got ${res.status} ${text}`);
  const err = (res.body as { error?: { code?: unknown; message?: unknown } }).error;
  assert.equal(typeof err?.code, 'string', `${label}: error code (${text})`);
  assert.equal(typeof err?.message, 'string', `${label}: error message`);
}

export async function snapshot(h: HttpHarness) {
  const campaigns = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns?limit=100');
  const redemptions = await h.call<ListWire<RedemptionWire>>('GET', '/v1/redemptions?limit=100');
  return {
    campaigns: campaigns.body.data.map((c) => ({ id: c.id, status: c.status, budget: c.budget, counts: c.counts })),
    redemptions: redemptions.body.data.map((r) => ({ id: r.id, status: r.status })),
    keys: (await h.store.listApiKeys()).length,
  };
}

export async function setup() {
  const h = await httpHarness();
  const c = await activeCampaign(h, { per_user_limit: 1 });
  const unique = await activeCampaign(h, { name: 'unique', code_mode: 'unique_codes' });
  const mine = await claim(h, c.id, 'u1');
  const spent = await claim(h, c.id, 'u2');
  const confirmed = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
    key: 'checkout',
    body: { user_id: 'u2', code: spent.code, order: orderBody({ id: 'o-spent' }), confirm: true },
  });
  assert.equal(confirmed.status, 201);
  const redeem = {
    user_id: 'u1',
    code: mine.code,
    order: orderBody(),
    device_id: 'd1',
    ip: '203.0.113.9',
    confirm: false,
  };
  const redeemFields = [
    f('user_id', 'name', true),
    f('code', 'name', true),
    f('order', 'object', true),
    f('order.id', 'name', true),
    f('order.merchant_id', 'name', true),
    f('order.amount_minor', 'money', true),
    f('order.currency', 'currency', true),
    f('order.product_kind', 'name', true),
    f('device_id', 'nullable_name'),
    f('ip', 'ip'),
    f('confirm', 'bool'),
  ];
  const targets: Target[] = [
    {
      label: 'redemption',
      method: 'POST',
      url: '/v1/redemptions',
      key: 'checkout',
      base: redeem,
      fields: redeemFields,
    },
    {
      label: 'validation',
      method: 'POST',
      url: '/v1/validations',
      key: 'checkout',
      base: redeem,
      fields: redeemFields,
    },
    {
      label: 'claim',
      method: 'POST',
      url: '/v1/claims',
      key: 'checkout',
      base: { campaign_id: c.id, user_id: 'u3' },
      fields: [f('campaign_id', 'name', true), f('user_id', 'name', true)],
    },
    {
      label: 'campaign',
      method: 'POST',
      url: '/v1/campaigns',
      key: 'admin',
      base: campaignBody({ name: 'fuzz' }),
      fields: [
        f('name', 'name', true),
        f('currency', 'currency', true),
        f('discount', 'object', true),
        f('discount.amount_minor', 'money', true),
        f('min_spend_minor', 'money'),
        f('product_kinds', 'names'),
        f('merchant_ids', 'names'),
        f('audience', 'object'),
        f('starts_at', 'timestamp', true),
        f('ends_at', 'timestamp', true),
        f('coupon_ttl_s', 'nullable_count'),
        f('budget_minor', 'money', true),
        f('max_redemptions', 'nullable_count'),
        f('per_user_limit', 'nullable_count'),
        f('per_merchant_limit', 'nullable_count'),
        f('code_mode', 'currency'),
        f('auto_pause', 'bool'),
        f('velocity', 'velocity'),
      ],
    },
    {
      label: 'codes',
      method: 'POST',
      url: `/v1/campaigns/${unique.id}/codes`,
      key: 'admin',
      base: { count: 5 },
      fields: [f('count', 'count', true)],
    },
    {
      label: 'reverse',
      method: 'POST',
      url: `/v1/redemptions/${confirmed.body.id}/reverse`,
      key: 'checkout',
      base: { restore_coupon: true },
      fields: [f('restore_coupon', 'bool')],
    },
    {
      label: 'pause',
      method: 'POST',
      url: `/v1/campaigns/${c.id}/pause`,
      key: 'admin',
      base: { reason: 'why' },
      fields: [f('reason', 'reason')],
    },
    {
      label: 'api-key',
      method: 'POST',
      url: '/v1/api-keys',
      key: 'admin',
      base: { name: 'k', scopes: ['read'] },
      fields: [f('name', 'name', true), f('scopes', 'scopes', true)],
    },
  ];
  return { h, targets };
}
