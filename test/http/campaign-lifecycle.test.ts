import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  campaignBody,
  claim,
  day_ms,
  httpHarness,
  iso,
  orderBody,
  t0,
} from './harness.ts';

describe('campaign lifecycle', () => {
  test('submit: clean -> active; warning -> pending_approval; error -> 422 campaign_lint_failed', async () => {
    const h = await httpHarness();
    const clean = await activeCampaign(h);
    assert.equal(clean.status, 'active');
    const risky = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ per_user_limit: null }) });
    const pending = await h.call<CampaignWire>('POST', `/v1/campaigns/${risky.body.id}/submit`);
    assert.equal(pending.status, 200);
    assert.equal(pending.body.status, 'pending_approval');
    const big = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: campaignBody({ budget_minor: 2_000_000, max_redemptions: null }),
    });
    const bigSubmitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${big.body.id}/submit`);
    assert.equal(bigSubmitted.body.status, 'pending_approval', 'exposure above the approval threshold');
    const inverted = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: campaignBody({ starts_at: iso(t0 + 10 * day_ms), ends_at: iso(t0 + 5 * day_ms) }),
    });
    assert.equal(inverted.status, 201);
    assert.ok(inverted.body.lint.some((f) => f.rule === 'window_inverted' && f.severity === 'error'));
    assertError(await h.call('POST', `/v1/campaigns/${inverted.body.id}/submit`), 422, 'campaign_lint_failed');
    assertError(await h.call('POST', `/v1/campaigns/${clean.id}/submit`), 409, 'invalid_state');
  });

  test('approve: by an approver -> active; by the maker -> 403 approval_self_forbidden; wrong state -> 409', async () => {
    const h = await httpHarness();
    const c = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ per_user_limit: null }) });
    assertError(await h.call('POST', `/v1/campaigns/${c.body.id}/approve`, { key: 'approver' }), 409, 'invalid_state');
    await h.call('POST', `/v1/campaigns/${c.body.id}/submit`);
    assertError(await h.call('POST', `/v1/campaigns/${c.body.id}/approve`), 403, 'approval_self_forbidden');
    assertError(await h.call('POST', `/v1/campaigns/${c.body.id}/approve`, { key: 'checkout' }), 403, 'forbidden');
    const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.body.id}/approve`, { key: 'admin2' });
    assert.equal(approved.status, 200);
    assert.equal(approved.body.status, 'active');
  });

  test('pause {reason}, resume, revoke; each answers the whole campaign', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const held = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'u1', code: coupon.code, order: orderBody() },
    });
    assert.equal(held.status, 201);
    const paused = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/pause`, {
      body: { reason: 'fraud spike' },
    });
    assert.equal(paused.status, 200);
    assert.equal(paused.body.status, 'paused');
    assert.equal(paused.body.status_reason, 'fraud spike');
    assert.equal(paused.body.budget.reserved_minor, 1000);
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: c.id, user_id: 'u2' } }),
      422,
      'campaign_paused',
    );
    const resumed = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/resume`);
    assert.equal(resumed.body.status, 'active');
    assertError(await h.call('POST', `/v1/campaigns/${c.id}/resume`), 409, 'invalid_state');
    const revoked = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/revoke`, {
      body: { reason: 'ended early' },
    });
    assert.equal(revoked.body.status, 'revoked');
    assert.equal(revoked.body.budget.reserved_minor, 0, 'holds are released');
    assert.equal(revoked.body.budget.available_minor, 100_000);
    assertError(
      await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: c.id, user_id: 'u3' } }),
      422,
      'campaign_revoked',
    );
    assertError(await h.call('POST', `/v1/campaigns/${c.id}/pause`), 409, 'invalid_state');
    assertError(await h.call('POST', '/v1/campaigns/cmp_nope/pause'), 404, 'not_found');
    await assertInvariants(h.store);
  });

  test('codes: unique bearer codes redeem once each; other modes are 400', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'unique_codes', max_redemptions: 2, coupon_ttl_s: null });
    const res = await h.call<{ codes: string[] }>('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 3 } });
    assert.equal(res.status, 201);
    assert.equal(res.body.codes.length, 3);
    assert.equal(new Set(res.body.codes).size, 3);
    const [a, b, d] = res.body.codes;
    const redeem = (code: string | undefined, user_id: string) =>
      h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        body: { user_id, code, order: orderBody({ id: `o-${user_id}` }) },
      });
    assert.equal((await redeem(a, 'u1')).status, 201);
    assertError(await redeem(a, 'u2'), 409, 'coupon_already_redeemed');
    assert.equal((await redeem(b, 'u2')).status, 201);
    assertError(await redeem(d, 'u3'), 422, 'usage_limit_reached');
    assertError(await redeem('ABCDEFGHJKMNPQRS', 'u3'), 404, 'coupon_not_found');
    assertError(
      await h.call('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 0 } }),
      400,
      'invalid_request',
      'count',
    );
    assertError(
      await h.call('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 100_001 } }),
      400,
      'invalid_request',
      'count',
    );
    const claimMode = await activeCampaign(h, { name: 'claims' });
    assertError(
      await h.call('POST', `/v1/campaigns/${claimMode.id}/codes`, { body: { count: 1 } }),
      400,
      'invalid_request',
      'count',
    );
    await assertInvariants(h.store);
  });

  test('exposure: budget parts, counts and breakdowns by merchant and product kind', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { product_kinds: ['merchandise', 'virtual'] });
    for (const [i, m] of ['m1', 'm1', 'm2'].entries()) {
      const coupon = await claim(h, c.id, `u${i}`);
      const kind = i === 2 ? 'virtual' : 'merchandise';
      const body = {
        user_id: `u${i}`,
        code: coupon.code,
        order: orderBody({ id: `o${i}`, merchant_id: m, product_kind: kind }),
        confirm: i === 0,
      };
      assert.equal((await h.call('POST', '/v1/redemptions', { key: 'checkout', body })).status, 201);
    }
    const res = await h.call('GET', `/v1/campaigns/${c.id}/exposure`, { key: 'read' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      campaign_id: c.id,
      budget_minor: 100_000,
      max_exposure_minor: 100_000,
      reserved_minor: 2000,
      spent_minor: 1000,
      frozen_minor: 0,
      reversed_minor: 0,
      available_minor: 97_000,
      counts: { reserved: 2, confirmed: 1, frozen: 0, released: 0, reversed: 0 },
      by_merchant: [
        { merchant_id: 'm1', count: 2, discount_minor: 2000 },
        { merchant_id: 'm2', count: 1, discount_minor: 1000 },
      ],
      by_product_kind: [
        { product_kind: 'merchandise', count: 2, discount_minor: 2000 },
        { product_kind: 'virtual', count: 1, discount_minor: 1000 },
      ],
    });
    const view = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`, { key: 'read' });
    assert.deepEqual(view.body.counts, { claimed: 3, redeemed: 1 });
    assertError(await h.call('GET', '/v1/campaigns/cmp_nope/exposure', { key: 'read' }), 404, 'not_found');
    await assertInvariants(h.store);
  });
});
