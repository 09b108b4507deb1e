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

describe('POST /v1/campaigns/{id} (update)', () => {
  test('a partial body changes those fields and answers the whole campaign', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const res = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}`, {
      body: {
        name: 'Spring, tidied',
        budget_minor: 80_000,
        ends_at: iso(t0 + 20 * day_ms),
        velocity: { per_user_per_minute: 5 },
      },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, 'active', 'only tightening: no new approval');
    assert.equal(res.body.name, 'Spring, tidied');
    assert.equal(res.body.ends_at, iso(t0 + 20 * day_ms));
    assert.deepEqual(res.body.budget, {
      total_minor: 80_000,
      reserved_minor: 0,
      spent_minor: 0,
      available_minor: 80_000,
    });
    assert.equal(res.body.max_exposure_minor, 80_000);
    assert.deepEqual(res.body.velocity, { per_user_per_minute: 5 });
    assert.equal(res.body.discount.type, 'fixed');
    const got = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`, { key: 'read' });
    assert.deepEqual(got.body, res.body);
    await assertInvariants(h.store);
  });

  test('a risky change goes back to pending_approval; its maker cannot approve it, another key can', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const changed = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}`, {
      key: 'admin2',
      body: { product_kinds: ['merchandise', 'phone_top_up'], budget_minor: 150_000 },
    });
    assert.equal(changed.status, 200);
    assert.equal(changed.body.status, 'pending_approval');
    assert.equal(changed.body.status_reason, 'changed: product_kinds, budget_minor');
    assert.ok(changed.body.lint.some((f) => f.rule === 'cash_equivalent_eligible'));
    const coupon = await h.call('POST', '/v1/claims', { key: 'checkout', body: { campaign_id: c.id, user_id: 'u1' } });
    assertError(coupon, 422, 'campaign_not_active');
    assertError(
      await h.call('POST', `/v1/campaigns/${c.id}/approve`, { key: 'admin2' }),
      403,
      'approval_self_forbidden',
    );
    const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/approve`, { key: 'approver' });
    assert.equal(approved.status, 200);
    assert.equal(approved.body.status, 'active');
  });

  test('refusals: scope, unknown campaign, unknown field, currency, code_mode, budget below reserved + spent', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { per_user_limit: 3 });
    const coupon = await claim(h, c.id, 'u1');
    const held = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'u1', code: coupon.code, order: orderBody() },
    });
    assert.equal(held.status, 201);
    const url = `/v1/campaigns/${c.id}`;
    assertError(await h.call('POST', url, { key: 'checkout', body: { name: 'x' } }), 403, 'forbidden');
    assertError(await h.call('POST', url, { key: 'approver', body: { name: 'x' } }), 403, 'forbidden');
    assertError(await h.call('POST', '/v1/campaigns/cmp_nope', { body: { name: 'x' } }), 404, 'not_found');
    assertError(await h.call('POST', url, { body: { nmae: 'x' } }), 400, 'invalid_request');
    assertError(await h.call('POST', url, { body: { currency: 'USD' } }), 400, 'invalid_request', 'currency');
    assertError(
      await h.call('POST', url, { body: { code_mode: 'unique_codes' } }),
      400,
      'invalid_request',
      'code_mode',
    );
    assertError(await h.call('POST', url, { body: { budget_minor: 999 } }), 400, 'invalid_request', 'budget_minor');
    assertError(await h.call('POST', url, { body: { budget_minor: -1 } }), 400, 'invalid_request', 'budget_minor');
    assertError(await h.call('POST', url, { body: { ends_at: 'tomorrow' } }), 400, 'invalid_request', 'ends_at');
    assertError(await h.call('POST', url, { body: { ends_at: iso(t0 - day_ms) } }), 422, 'campaign_lint_failed');
    const ok = await h.call<CampaignWire>('POST', url, { body: { budget_minor: 1000 } });
    assert.equal(ok.status, 200, 'down to exactly what is held');
    assert.equal(ok.body.budget.available_minor, 0);
    await assertInvariants(h.store);
  });

  test('an Idempotency-Key replays the update', async () => {
    const h = await httpHarness();
    const c = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody() });
    const first = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.body.id}`, {
      idem: 'u-1',
      body: { name: 'a' },
    });
    h.clock.advance(5000);
    const again = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.body.id}`, {
      idem: 'u-1',
      body: { name: 'a' },
    });
    assert.deepEqual(again.body, first.body);
    assertError(
      await h.call('POST', `/v1/campaigns/${c.body.id}`, { idem: 'u-1', body: { name: 'b' } }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
  });
});
