import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Campaign, type CampaignSpec, zeroCounters } from './campaign.ts';
import {
  applyPatch,
  type CampaignPatch,
  changedFields,
  riskyChanges,
  sameValue,
  tightensPerSubjectLimit,
} from './campaign-change.ts';
import { Rejection } from './errors.ts';

const day_ms = 86_400_000;
const t0_ms = Date.UTC(2026, 0, 1);

function spec(over: Partial<CampaignSpec> = {}): CampaignSpec {
  return {
    name: 'spring',
    currency: 'CNY',
    discount: { type: 'fixed', amount_minor: 1000 },
    min_spend_minor: 5000,
    product_kinds: ['merchandise'],
    merchant_ids: ['m1', 'm2'],
    audience: { type: 'allowlist', user_ids: ['u1', 'u2'] },
    starts_at_ms: t0_ms,
    ends_at_ms: t0_ms + 30 * day_ms,
    coupon_ttl_s: 3600,
    budget_minor: 100_000,
    max_redemptions: 100,
    per_user_limit: 2,
    per_merchant_limit: 50,
    code_mode: 'claim',
    code: null,
    auto_pause: true,
    velocity: { per_user_per_minute: 3, per_ip_per_day: 100 },
    ...over,
  };
}

function campaign(over: Partial<Campaign> = {}): Campaign {
  return {
    ...spec(),
    ...zeroCounters,
    id: 'cmp_1',
    status: 'active',
    status_reason: null,
    created_at_ms: t0_ms,
    updated_at_ms: t0_ms,
    created_by: 'key_a',
    changed_by: 'key_a',
    approved_by: 'key_b',
    lint: [],
    audit_seq: 1,
    audit_head: '0'.repeat(64),
    ...over,
  };
}

function invalid(fn: () => unknown, param: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Rejection);
    assert.equal(e.code, 'invalid_request');
    assert.equal(e.param, param);
    return true;
  });
}

describe('campaign changes', () => {
  test('sameValue compares JSON values deeply and ignores undefined members', () => {
    assert.equal(sameValue({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }), true);
    assert.equal(sameValue({ a: 1, b: undefined }, { a: 1 }), true);
    assert.equal(sameValue([1, 2], [2, 1]), false);
    assert.equal(sameValue(null, {}), false);
    assert.equal(sameValue({ a: 1 }, { a: '1' }), false);
  });

  test('tightening anything is never risky', () => {
    const prev = spec();
    const next = spec({
      name: 'renamed',
      min_spend_minor: 9000,
      product_kinds: [],
      merchant_ids: ['m1'],
      audience: { type: 'allowlist', user_ids: ['u1'] },
      starts_at_ms: t0_ms + day_ms,
      ends_at_ms: t0_ms + 10 * day_ms,
      coupon_ttl_s: 60,
      budget_minor: 50_000,
      max_redemptions: 10,
      per_user_limit: 1,
      per_merchant_limit: 5,
      velocity: { per_user_per_minute: 1, per_ip_per_day: 10, per_device_per_day: 5 },
    });
    assert.deepEqual(riskyChanges(prev, next), []);
    assert.equal(changedFields(prev, next).length, 13);
  });

  const risky: Array<[string, Partial<CampaignSpec>, keyof CampaignSpec]> = [
    ['another discount', { discount: { type: 'fixed', amount_minor: 900 } }, 'discount'],
    ['a lower minimum spend', { min_spend_minor: 4999 }, 'min_spend_minor'],
    ['a new product kind', { product_kinds: ['merchandise', 'phone_top_up'] }, 'product_kinds'],
    ['every merchant', { merchant_ids: null }, 'merchant_ids'],
    ['a new merchant', { merchant_ids: ['m1', 'm3'] }, 'merchant_ids'],
    ['a public audience', { audience: { type: 'public' } }, 'audience'],
    ['a new user', { audience: { type: 'allowlist', user_ids: ['u1', 'u3'] } }, 'audience'],
    ['an earlier start', { starts_at_ms: t0_ms - 1 }, 'starts_at_ms'],
    ['a later end', { ends_at_ms: t0_ms + 31 * day_ms }, 'ends_at_ms'],
    ['a longer coupon life', { coupon_ttl_s: null }, 'coupon_ttl_s'],
    ['a bigger budget', { budget_minor: 100_001 }, 'budget_minor'],
    ['no redemption cap', { max_redemptions: null }, 'max_redemptions'],
    ['a higher per-user limit', { per_user_limit: 3 }, 'per_user_limit'],
    ['no per-merchant limit', { per_merchant_limit: null }, 'per_merchant_limit'],
    ['auto-pause off', { auto_pause: false }, 'auto_pause'],
    ['a velocity limit removed', { velocity: { per_user_per_minute: 3 } }, 'velocity'],
    ['velocity off', { velocity: null }, 'velocity'],
    ['a faster velocity', { velocity: { per_user_per_minute: 4, per_ip_per_day: 100 } }, 'velocity'],
  ];
  for (const [what, over, field] of risky) {
    test(`risky: ${what}`, () => {
      assert.deepEqual(riskyChanges(spec(), spec(over)), [field]);
    });
  }

  test('adding a velocity limit where there was none tightens', () => {
    assert.deepEqual(riskyChanges(spec({ velocity: null }), spec({ velocity: { per_ip_per_minute: 5 } })), []);
  });

  test('applyPatch keeps absent fields and sets explicit nulls', () => {
    const next = applyPatch(campaign(), { name: 'x', max_redemptions: null }, undefined);
    assert.equal(next.name, 'x');
    assert.equal(next.max_redemptions, null);
    assert.equal(next.budget_minor, 100_000);
    assert.equal('id' in next, false, 'only spec fields');
  });

  test('currency, code_mode and code cannot change (the same value is fine)', () => {
    invalid(() => applyPatch(campaign(), { currency: 'USD' }, undefined), 'currency');
    invalid(() => applyPatch(campaign(), { code_mode: 'unique_codes' }, undefined), 'code_mode');
    invalid(() => applyPatch(campaign(), { code: 'NEW' }, undefined), 'code');
    assert.equal(applyPatch(campaign(), { currency: 'CNY', code_mode: 'claim' }, undefined).currency, 'CNY');
  });

  test('the budget may shrink down to reserved + spent, not below', () => {
    const c = campaign({ reserved_minor: 3000, spent_minor: 7000, reserved_count: 3, confirmed_count: 7 });
    assert.equal(applyPatch(c, { budget_minor: 10_000 }, undefined).budget_minor, 10_000);
    invalid(() => applyPatch(c, { budget_minor: 9999 }, undefined), 'budget_minor');
  });

  test('max_redemptions may not drop below the live redemptions', () => {
    const c = campaign({ reserved_count: 2, confirmed_count: 3, frozen_count: 1 });
    assert.equal(applyPatch(c, { max_redemptions: 6 }, undefined).max_redemptions, 6);
    invalid(() => applyPatch(c, { max_redemptions: 5 }, undefined), 'max_redemptions');
  });

  test('a per-user or per-merchant limit set or lowered is checked against the live maxima', () => {
    const c = campaign({ per_user_limit: null, per_merchant_limit: 50 });
    const patch: CampaignPatch = { per_user_limit: 2 };
    assert.equal(tightensPerSubjectLimit(c, patch), true);
    assert.equal(applyPatch(c, patch, { user: 2, merchant: 9 }).per_user_limit, 2);
    invalid(() => applyPatch(c, patch, { user: 3, merchant: 9 }), 'per_user_limit');
    invalid(() => applyPatch(c, { per_merchant_limit: 8 }, { user: 0, merchant: 9 }), 'per_merchant_limit');
    assert.equal(tightensPerSubjectLimit(c, { per_merchant_limit: 51 }), false);
    assert.equal(tightensPerSubjectLimit(c, { per_user_limit: null }), false);
    assert.throws(() => applyPatch(c, patch, undefined), /live counts were not loaded/);
  });
});
