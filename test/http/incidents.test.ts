import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { IncidentWire } from '../../src/http/incident-views.ts';
import type { CampaignWire, RedemptionWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  campaignBody,
  claim,
  type ErrorWire,
  type HttpHarness,
  httpHarness,
  iso,
  type ListWire,
  orderBody,
} from './harness.ts';

const allActions = ['pause_campaigns', 'revoke_unredeemed', 'freeze_redemptions'];

/** A campaign where `redeemed` of `claimed` users redeem at m1/m2 (every third a hold). */
async function busyCampaign(h: HttpHarness, claimed: number, redeemed: number) {
  const c = await activeCampaign(h, { product_kinds: ['merchandise', 'virtual'] });
  const redemptions: RedemptionWire[] = [];
  for (let i = 0; i < claimed; i++) {
    const coupon = await claim(h, c.id, `u${i}`);
    if (i >= redeemed) continue;
    const order = orderBody({ id: `${c.id}-${i}`, merchant_id: i % 2 ? 'm2' : 'm1', amount_minor: 9000 + i });
    const body = { user_id: `u${i}`, code: coupon.code, order, confirm: i % 3 !== 0 };
    const res = await h.call<RedemptionWire>('POST', '/v1/redemptions', { key: 'checkout', body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    redemptions.push(res.body);
  }
  return { c, redemptions };
}

async function campaign(h: HttpHarness, id: string): Promise<CampaignWire> {
  return (await h.call<CampaignWire>('GET', `/v1/campaigns/${id}`)).body;
}

describe('incidents over HTTP', () => {
  test('open (201 with report), read, list, resolve by reversing; the second resolve is 409', async () => {
    const h = await httpHarness();
    const { c, redemptions } = await busyCampaign(h, 12, 9);
    const body = { title: 'leak at m1', scope: { campaign_ids: [c.id] }, actions: allActions };
    const opened = await h.call<IncidentWire>('POST', '/v1/incidents', { body, idem: 'inc-1' });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    const inc = opened.body;
    assert.match(inc.id, /^inc_/);
    assert.equal(inc.status, 'open');
    assert.equal(inc.title, 'leak at m1');
    assert.deepEqual(inc.scope, { campaign_ids: [c.id], merchant_ids: null, from: null, to: null });
    assert.deepEqual(inc.actions, allActions);
    // Six confirmed (frozen) and three holds (released: never confirmed, never frozen).
    const sum = (rs: RedemptionWire[]) => rs.reduce((a, r) => a + r.discount_minor, 0);
    const holds = redemptions.filter((r) => r.status === 'reserved');
    const discounts = sum(redemptions.filter((r) => r.status === 'confirmed'));
    assert.equal(holds.length, 3);
    assert.deepEqual(
      { ...inc.report, by_merchant: undefined, by_product_kind: undefined },
      {
        frozen_count: 6,
        frozen_minor: discounts,
        released_holds_count: 3,
        released_holds_minor: sum(holds),
        revoked_coupons: 6,
        paused_campaigns: 1,
        by_campaign: [{ campaign_id: c.id, count: 6, discount_minor: discounts }],
        by_merchant: undefined,
        by_product_kind: undefined,
      },
    );
    assert.deepEqual(inc.report?.by_merchant.map((m) => [m.merchant_id, m.count]).sort(), [
      ['m1', 3],
      ['m2', 3],
    ]);
    const replay = await h.call<IncidentWire>('POST', '/v1/incidents', { body, idem: 'inc-1' });
    assert.deepEqual([replay.status, replay.body], [201, inc]);
    assertError(
      await h.call('POST', '/v1/incidents', { body: { ...body, title: 'x' }, idem: 'inc-1' }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );

    assert.equal((await campaign(h, c.id)).status, 'paused');
    const frozen = await h.call<ListWire<RedemptionWire>>(
      'GET',
      `/v1/redemptions?campaign_id=${c.id}&status=frozen&limit=100`,
    );
    assert.equal(frozen.body.data.length, 6);
    for (const hold of holds) {
      const got = await h.call<RedemptionWire>('GET', `/v1/redemptions/${hold.id}`);
      assert.equal(got.body.status, 'released');
      const confirm = await h.call('POST', `/v1/redemptions/${hold.id}/confirm`, { key: 'checkout' });
      assertError(confirm, 409, 'invalid_state');
    }
    assert.deepEqual((await campaign(h, c.id)).budget.reserved_minor, 0);
    const got = await h.call<IncidentWire>('GET', `/v1/incidents/${inc.id}`);
    assert.deepEqual(got.body, inc);
    const list = await h.call<ListWire<IncidentWire>>('GET', '/v1/incidents');
    assert.deepEqual(list.body, { data: [inc], has_more: false });
    await assertInvariants(h.store);

    const resolved = await h.call<IncidentWire>('POST', `/v1/incidents/${inc.id}/resolve`, {
      body: { resolution: 'reverse' },
    });
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    assert.equal(resolved.body.status, 'resolved');
    assert.equal(resolved.body.resolution, 'reverse');
    assert.deepEqual(resolved.body.resolved, { count: 6, discount_minor: discounts });
    assert.ok(resolved.body.resolved_at);
    const after = await campaign(h, c.id);
    assert.deepEqual(after.budget, {
      total_minor: 100_000,
      reserved_minor: 0,
      spent_minor: 0,
      available_minor: 100_000,
    });
    assertError(
      await h.call('POST', `/v1/incidents/${inc.id}/resolve`, { body: { resolution: 'reverse' } }),
      409,
      'invalid_state',
    );
    assertError(
      await h.call('POST', `/v1/incidents/${inc.id}/resolve`, { body: { resolution: 'honour' } }),
      409,
      'invalid_state',
    );
    await assertInvariants(h.store);
  });

  test('honour over HTTP: frozen become confirmed, the spend stays; the released holds stay released', async () => {
    const h = await httpHarness();
    const { c } = await busyCampaign(h, 6, 6);
    const body = { title: 'false alarm', scope: { campaign_ids: [c.id] }, actions: ['freeze_redemptions'] };
    const inc = await h.call<IncidentWire>('POST', '/v1/incidents', { body });
    assert.equal(inc.status, 201);
    assert.deepEqual([inc.body.report?.frozen_count, inc.body.report?.released_holds_count], [4, 2]);
    const spent = (await campaign(h, c.id)).budget.spent_minor;
    assert.equal(spent, 4000);
    const done = await h.call<IncidentWire>('POST', `/v1/incidents/${inc.body.id}/resolve`, {
      body: { resolution: 'honour' },
    });
    assert.equal(done.body.status, 'resolved');
    assert.equal((await campaign(h, c.id)).budget.spent_minor, spent);
    const confirmed = await h.call<ListWire<RedemptionWire>>(
      'GET',
      `/v1/redemptions?campaign_id=${c.id}&status=confirmed`,
    );
    assert.equal(confirmed.body.data.length, 4);
    const released = await h.call<ListWire<RedemptionWire>>(
      'GET',
      `/v1/redemptions?campaign_id=${c.id}&status=released`,
    );
    assert.equal(released.body.data.length, 2);
    await assertInvariants(h.store);
  });

  test('404s, validation errors and scopes: bad input changes nothing', async () => {
    const h = await httpHarness();
    const { c } = await busyCampaign(h, 3, 3);
    assertError(await h.call('GET', '/v1/incidents/inc_missing'), 404, 'not_found');
    assertError(
      await h.call('POST', '/v1/incidents/inc_missing/resolve', { body: { resolution: 'reverse' } }),
      404,
      'not_found',
    );
    const ok = { title: 't', scope: { campaign_ids: [c.id] }, actions: allActions };
    const bad: Array<[unknown, number, string, string?]> = [
      [{ ...ok, title: undefined }, 400, 'invalid_request'],
      [{ ...ok, title: '' }, 400, 'invalid_request'],
      [{ ...ok, actions: ['delete_everything'] }, 400, 'invalid_request'],
      [{ ...ok, actions: ['pause_campaigns', 'pause_campaigns'] }, 400, 'invalid_request'],
      [{ ...ok, scope: {} }, 400, 'invalid_request', 'scope'],
      [
        { ...ok, scope: { campaign_ids: null, merchant_ids: null, from: null, to: null } },
        400,
        'invalid_request',
        'scope',
      ],
      [{ ...ok, scope: { campaign_ids: [] } }, 400, 'invalid_request'],
      [{ ...ok, scope: { campaign_ids: [c.id], extra: 1 } }, 400, 'invalid_request'],
      [{ ...ok, scope: { campaign_ids: [c.id], from: '2026-02-30T00:00:00Z' } }, 400, 'invalid_request', 'scope.from'],
      [{ ...ok, scope: { campaign_ids: [c.id], from: iso(2000), to: iso(1000) } }, 400, 'invalid_request', 'scope.to'],
      [{ ...ok, scope: { campaign_ids: ['cmp_missing'] } }, 404, 'not_found', 'scope.campaign_ids'],
    ];
    for (const [body, status, code, param] of bad) {
      assertError(await h.call('POST', '/v1/incidents', { body }), status, code, param);
    }
    assertError(
      await h.call('POST', `/v1/incidents/x/resolve`, { body: { resolution: 'refund' } }),
      400,
      'invalid_request',
    );
    assertError(await h.call('POST', '/v1/incidents', { key: 'read', body: ok }), 403, 'forbidden');
    assertError(await h.call('GET', '/v1/incidents', { key: 'checkout' }), 403, 'forbidden');
    assert.deepEqual((await h.call('GET', '/v1/incidents')).body, { data: [], has_more: false });
    assert.equal((await campaign(h, c.id)).status, 'active');

    const byMerchant = {
      title: 'merchant m2',
      scope: { merchant_ids: ['m2'], from: iso(0) },
      actions: ['freeze_redemptions'],
    };
    const inc = await h.call<IncidentWire>('POST', '/v1/incidents', { body: byMerchant });
    assert.equal(inc.status, 201, JSON.stringify(inc.body));
    assert.deepEqual(inc.body.campaign_ids, [c.id]);
    assert.equal(inc.body.report?.frozen_count, 1);
    assert.deepEqual(
      inc.body.report?.by_merchant.map((m) => m.merchant_id),
      ['m2'],
    );
    await assertInvariants(h.store);
  });
});

describe('incident scopes as shown', () => {
  test('the scope an incident shows (null for each bound not set) is taken back as input', async () => {
    const h = await httpHarness();
    const { c } = await busyCampaign(h, 3, 3);
    const first = await h.call<IncidentWire>('POST', '/v1/incidents', {
      body: { title: 'look', scope: { campaign_ids: [c.id] }, actions: ['freeze_redemptions'] },
    });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.deepEqual(first.body.scope, { campaign_ids: [c.id], merchant_ids: null, from: null, to: null });
    const again = await h.call<IncidentWire>('POST', '/v1/incidents', {
      body: { title: 'look again', scope: first.body.scope, actions: ['pause_campaigns'] },
    });
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.deepEqual(again.body.scope, first.body.scope);
    assert.deepEqual(again.body.campaign_ids, [c.id]);
    await assertInvariants(h.store);
  });
});

describe('incidents and campaigns awaiting approval over HTTP', () => {
  test('approving a pending campaign in a pausing incident is 409 invalid_state naming it, until it is resolved', async () => {
    const h = await httpHarness();
    // No per-user limit is a lint warning: submit leaves it pending_approval. A draft cannot be
    // paused, so the incident leaves it be; submitted afterwards, it waits for approval.
    const created = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: campaignBody({ per_user_limit: null }),
    });
    const id = created.body.id;
    const body = { title: 'hold it', scope: { campaign_ids: [id] }, actions: ['pause_campaigns'] };
    const inc = await h.call<IncidentWire>('POST', '/v1/incidents', { body });
    assert.equal(inc.status, 201, JSON.stringify(inc.body));
    assert.equal((await h.call<CampaignWire>('POST', `/v1/campaigns/${id}/submit`)).body.status, 'pending_approval');
    const refused = await h.call<ErrorWire>('POST', `/v1/campaigns/${id}/approve`, { key: 'approver' });
    assertError(refused, 409, 'invalid_state');
    assert.match(refused.body.error.message, new RegExp(inc.body.id));
    assert.equal((await campaign(h, id)).status, 'pending_approval');
    const resolved = await h.call('POST', `/v1/incidents/${inc.body.id}/resolve`, { body: { resolution: 'honour' } });
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${id}/approve`, { key: 'approver' });
    assert.deepEqual([approved.status, approved.body.status], [200, 'active']);
    await assertInvariants(h.store);
  });

  test('an incident that pauses campaigns pauses one pending approval too; after it, resume sends it back to review', async () => {
    const h = await httpHarness();
    const created = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: campaignBody({ per_user_limit: null }),
    });
    const id = created.body.id;
    assert.equal((await h.call<CampaignWire>('POST', `/v1/campaigns/${id}/submit`)).body.status, 'pending_approval');
    const body = { title: 'hold it', scope: { campaign_ids: [id] }, actions: ['pause_campaigns'] };
    const inc = await h.call<IncidentWire>('POST', '/v1/incidents', { body });
    assert.equal(inc.status, 201, JSON.stringify(inc.body));
    const held = await campaign(h, id);
    assert.deepEqual([held.status, held.needs_approval], ['paused', true]);
    assertError(await h.call('POST', `/v1/campaigns/${id}/approve`, { key: 'approver' }), 409, 'invalid_state');
    const resolved = await h.call('POST', `/v1/incidents/${inc.body.id}/resolve`, { body: { resolution: 'honour' } });
    assert.equal(resolved.status, 200, JSON.stringify(resolved.body));
    const resumed = await h.call<CampaignWire>('POST', `/v1/campaigns/${id}/resume`);
    assert.deepEqual([resumed.body.status, resumed.body.needs_approval], ['pending_approval', false]);
    const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${id}/approve`, { key: 'approver' });
    assert.deepEqual([approved.status, approved.body.status], [200, 'active']);
    await assertInvariants(h.store);
  });
});

describe('emergency stop over HTTP', () => {
  test('pauses every active campaign and answers {paused, campaign_ids}; redemptions then 422', async () => {
    const h = await httpHarness();
    const a = await activeCampaign(h);
    const b = await activeCampaign(h, { code_mode: 'shared_code', code: 'STOPME', per_user_limit: 5 });
    const draft = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: (await import('./harness.ts')).campaignBody(),
    });
    assertError(await h.call('POST', '/v1/emergency-stop', { body: {} }), 400, 'invalid_request');
    assertError(
      await h.call('POST', '/v1/emergency-stop', { key: 'approver', body: { reason: 'x' } }),
      403,
      'forbidden',
    );
    const res = await h.call<{ paused: number; campaign_ids: string[] }>('POST', '/v1/emergency-stop', {
      body: { reason: 'leak suspected' },
      idem: 'stop-1',
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { paused: 2, campaign_ids: [b.id, a.id] });
    const replay = await h.call('POST', '/v1/emergency-stop', { body: { reason: 'leak suspected' }, idem: 'stop-1' });
    assert.deepEqual(replay.body, res.body);
    for (const id of [a.id, b.id]) assert.equal((await campaign(h, id)).status, 'paused');
    assert.equal((await campaign(h, draft.body.id)).status, 'draft');
    const body = { user_id: 'u1', code: 'STOPME', order: orderBody() };
    assertError(await h.call('POST', '/v1/redemptions', { key: 'checkout', body }), 422, 'campaign_paused');
    const platform = await h.store.auditChain('platform');
    assert.equal(platform.filter((e) => e.action === 'platform.emergency_stop').length, 1);
    await assertInvariants(h.store);
  });
});
