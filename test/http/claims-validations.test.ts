import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire, CouponWire, RedemptionWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  claim,
  day_ms,
  type HttpHarness,
  httpHarness,
  iso,
  orderBody,
  t0,
} from './harness.ts';

function _redeem(h: HttpHarness, body: Record<string, unknown>, idem?: string) {
  return h.call<RedemptionWire>('POST', '/v1/redemptions', { key: 'checkout', body, ...(idem ? { idem } : {}) });
}

async function counters(h: HttpHarness, id: string) {
  const res = await h.call<CampaignWire>('GET', `/v1/campaigns/${id}`, { key: 'read' });
  return { budget: res.body.budget, counts: res.body.counts };
}

describe('POST /v1/claims', () => {
  test('201 coupon; window and status are checked', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { coupon_ttl_s: 3600 });
    const res = await h.call<CouponWire>('POST', '/v1/claims', {
      key: 'checkout',
      body: { campaign_id: c.id, user_id: 'u1' },
    });
    assert.equal(res.status, 201);
    assert.match(res.body.id, /^cpn_/);
    assert.deepEqual(
      { ...res.body, id: '', code: '' },
      { id: '', code: '', campaign_id: c.id, user_id: 'u1', status: 'active', expires_at: '2026-01-01T01:01:00Z' },
    );
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: c.id, user_id: 'u1' } }),
      422,
      'per_user_limit_reached',
    );
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: 'cmp_nope', user_id: 'u1' } }),
      404,
      'not_found',
    );

    const later = await activeCampaign(h, {
      name: 'later',
      starts_at: iso(t0 + 10 * day_ms),
      ends_at: iso(t0 + 20 * day_ms),
    });
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: later.id, user_id: 'u1' } }),
      422,
      'campaign_not_started',
    );
    const draft = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: { ...c, id: undefined } });
    assert.equal(draft.status, 400, 'a view is not a create body (closed schema)');
    const d = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: {
        name: 'd',
        currency: 'CNY',
        discount: { type: 'fixed', amount_minor: 100 },
        starts_at: iso(t0),
        ends_at: iso(t0 + day_ms),
        budget_minor: 1000,
      },
    });
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: d.body.id, user_id: 'u1' } }),
      422,
      'campaign_not_active',
    );
    const allow = await activeCampaign(h, { name: 'vip', audience: { type: 'allowlist', user_ids: ['vip1'] } });
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: allow.id, user_id: 'u1' } }),
      422,
      'coupon_not_eligible_user',
    );
    assert.equal(
      (await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: allow.id, user_id: 'vip1' } }))
        .status,
      201,
    );
    h.clock.set(t0 + 30 * day_ms);
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: c.id, user_id: 'u9' } }),
      422,
      'campaign_ended',
    );
  });
});

describe('POST /v1/validations', () => {
  test('200 {valid, discount_minor, reason}; changes nothing', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const before = await counters(h, c.id);
    const ok = await h.call('POST', '/v1/validations', {
      key: 'checkout',
      body: { user_id: 'u1', code: coupon.code, order: orderBody() },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { valid: true, discount_minor: 1000, reason: null });
    const low = await h.call<{ valid: boolean; reason: { code: string } }>('POST', '/v1/validations', {
      key: 'checkout',
      body: { user_id: 'u1', coupon_id: coupon.id, order: orderBody({ amount_minor: 10 }) },
    });
    assert.equal(low.status, 200);
    assert.equal(low.body.valid, false);
    assert.equal(low.body.reason.code, 'min_spend_not_met');
    const unknown = await h.call<{ reason: { code: string } }>('POST', '/v1/validations', {
      key: 'checkout',
      body: { user_id: 'u1', code: 'NOPE', order: orderBody() },
    });
    assert.equal(unknown.body.reason.code, 'coupon_not_found');
    assertError(
      await h.call('POST', '/v1/validations', { key: 'checkout', body: { user_id: 'u1', order: orderBody() } }),
      400,
      'invalid_request',
      'code',
    );
    assert.deepEqual(await counters(h, c.id), before);
    await assertInvariants(h.store);
  });
});
