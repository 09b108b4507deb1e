import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire } from '../../src/http/views.ts';
import { assertError, assertInvariants, day_ms, httpHarness, iso, orderBody, t0 } from './harness.ts';

/** The coupon that leaked money in 2019: 100 CNY off anything, phone top-ups included, for anyone, any number of times. */
const coupon2019 = {
  name: 'TV show guests',
  currency: 'CNY',
  discount: { type: 'fixed', amount_minor: 10_000 },
  min_spend_minor: 0,
  product_kinds: ['merchandise', 'phone_top_up', 'virtual'],
  merchant_ids: null,
  audience: { type: 'public' },
  starts_at: iso(t0),
  ends_at: iso(t0 + 18 * day_ms),
  coupon_ttl_s: 86_400,
  budget_minor: 5_000_000,
  max_redemptions: null,
  per_user_limit: null,
  per_merchant_limit: null,
  code_mode: 'shared_code',
  code: 'TVGUESTS',
};

describe('the 2019 coupon over HTTP', () => {
  test('shows its lint findings and exact worst case, and cannot go live without a second key', async () => {
    const h = await httpHarness();
    const created = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: coupon2019 });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const c = created.body;
    assert.equal(c.status, 'draft');
    const warnings = c.lint.filter((f) => f.severity === 'warning').map((f) => f.rule);
    assert.deepEqual(warnings.sort(), [
      'cash_equivalent_eligible',
      'no_min_spend_large_discount',
      'no_per_user_limit',
      'public_high_value',
    ]);
    assert.equal(c.lint.filter((f) => f.severity === 'error').length, 0);
    assert.match(c.lint.find((f) => f.rule === 'no_min_spend_large_discount')?.message ?? '', /100\.00 CNY/);
    assert.equal(c.max_exposure_minor, 5_000_000, 'no redemption cap: the whole budget');
    const exposure = await h.call<{ max_exposure_minor: number }>('GET', `/v1/campaigns/${c.id}/exposure`, {
      key: 'read',
    });
    assert.equal(exposure.body.max_exposure_minor, 5_000_000);

    const redeem = () =>
      h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        body: {
          user_id: 'u1',
          code: 'TVGUESTS',
          order: orderBody({ amount_minor: 10_000, product_kind: 'phone_top_up' }),
        },
      });
    assertError(await redeem(), 422, 'campaign_not_active');
    const submitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/submit`);
    assert.equal(submitted.body.status, 'pending_approval');
    assertError(await h.call('POST', `/v1/campaigns/${c.id}/approve`), 403, 'approval_self_forbidden');
    assertError(await h.call('POST', `/v1/campaigns/${c.id}/resume`), 409, 'invalid_state');
    assertError(await redeem(), 422, 'campaign_not_active');
    // Another admin changing it makes that key a maker too; only a third key can approve now.
    const edited = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}`, {
      key: 'admin2',
      body: { name: 'TV guests' },
    });
    assert.equal(edited.body.status, 'pending_approval');
    assertError(
      await h.call('POST', `/v1/campaigns/${c.id}/approve`, { key: 'admin2' }),
      403,
      'approval_self_forbidden',
    );
    assertError(await redeem(), 422, 'campaign_not_active');

    const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/approve`, { key: 'approver' });
    assert.equal(approved.status, 200);
    assert.equal(approved.body.status, 'active');
    const r = await redeem();
    assert.equal(r.status, 201, 'live only after the second key approved');
    const chain = await h.store.auditChain(c.id);
    const actors = chain.filter((e) => e.action !== 'batch').map((e) => `${e.action}:${e.actor}`);
    assert.deepEqual(actors, [
      `campaign.created:${h.keys.admin.id}`,
      `campaign.submit:${h.keys.admin.id}`,
      `campaign.updated:${h.keys.admin2.id}`,
      `campaign.approve:${h.keys.approver.id}`,
    ]);
    await assertInvariants(h.store);
  });
});
