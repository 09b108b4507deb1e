import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire, RedemptionWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  claim,
  day_ms,
  type HttpHarness,
  httpHarness,
  type ListWire,
  orderBody,
  t0,
} from './harness.ts';

function redeem(h: HttpHarness, body: Record<string, unknown>, idem?: string) {
  return h.call<RedemptionWire>('POST', '/v1/redemptions', { key: 'checkout', body, ...(idem ? { idem } : {}) });
}

async function counters(h: HttpHarness, id: string) {
  const res = await h.call<CampaignWire>('GET', `/v1/campaigns/${id}`, { key: 'read' });
  return { budget: res.body.budget, counts: res.body.counts };
}

describe('POST /v1/redemptions', () => {
  test('reserve -> confirm -> reverse moves money and answers the redemption view', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const res = await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody(), device_id: 'd1' });
    assert.equal(res.status, 201);
    const r = res.body;
    assert.match(r.id, /^rdm_/);
    assert.deepEqual(
      { ...r, id: '' },
      {
        id: '',
        status: 'reserved',
        discount_minor: 1000,
        coupon_id: coupon.id,
        campaign_id: c.id,
        user_id: 'u1',
        merchant_id: 'm1',
        order: { id: 'o1', merchant_id: 'm1', amount_minor: 10_000, currency: 'CNY', product_kind: 'merchandise' },
        hold_expires_at: '2026-01-01T00:16:00Z',
        created_at: '2026-01-01T00:01:00Z',
        updated_at: '2026-01-01T00:01:00Z',
      },
    );
    assert.deepEqual((await counters(h, c.id)).budget, {
      total_minor: 100_000,
      reserved_minor: 1000,
      spent_minor: 0,
      available_minor: 99_000,
    });
    const confirmed = await h.call<RedemptionWire>('POST', `/v1/redemptions/${r.id}/confirm`, { key: 'checkout' });
    assert.equal(confirmed.status, 200);
    assert.equal(confirmed.body.status, 'confirmed');
    assert.equal(confirmed.body.hold_expires_at, null);
    assert.deepEqual(await counters(h, c.id), {
      budget: { total_minor: 100_000, reserved_minor: 0, spent_minor: 1000, available_minor: 99_000 },
      counts: { claimed: 1, redeemed: 1 },
    });
    assertError(await h.call('POST', `/v1/redemptions/${r.id}/confirm`, { key: 'checkout' }), 409, 'invalid_state');
    assertError(await h.call('POST', `/v1/redemptions/${r.id}/release`, { key: 'checkout' }), 409, 'invalid_state');
    assertError(
      await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody({ id: 'o2' }) }),
      409,
      'coupon_already_redeemed',
    );
    const reversed = await h.call<RedemptionWire>('POST', `/v1/redemptions/${r.id}/reverse`, {
      key: 'checkout',
      body: { restore_coupon: true },
    });
    assert.equal(reversed.body.status, 'reversed');
    assert.equal((await counters(h, c.id)).budget.available_minor, 100_000);
    assertError(await h.call('POST', `/v1/redemptions/${r.id}/reverse`, { key: 'checkout' }), 409, 'invalid_state');
    const again = await redeem(h, {
      user_id: 'u1',
      coupon_id: coupon.id,
      order: orderBody({ id: 'o3' }),
      confirm: true,
    });
    assert.equal(again.status, 201, 'restored coupon redeems again');
    assert.equal(again.body.status, 'confirmed');
    assert.equal(again.body.hold_expires_at, null);
    assertError(await h.call('POST', '/v1/redemptions/rdm_nope/confirm', { key: 'checkout' }), 404, 'not_found');
    await assertInvariants(h.store);
  });

  test('release gives the hold back; a coupon can be used again', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const r = await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody() });
    const released = await h.call<RedemptionWire>('POST', `/v1/redemptions/${r.body.id}/release`, { key: 'checkout' });
    assert.equal(released.status, 200);
    assert.equal(released.body.status, 'released');
    assert.equal((await counters(h, c.id)).budget.reserved_minor, 0);
    assert.equal((await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody({ id: 'o2' }) })).status, 201);
    await assertInvariants(h.store);
  });

  test('a hold not confirmed in time cannot be confirmed', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const r = await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody() });
    h.clock.advance(15 * 60_000);
    assertError(
      await h.call('POST', `/v1/redemptions/${r.body.id}/confirm`, { key: 'checkout' }),
      409,
      'invalid_state',
    );
    assert.equal(await h.engine.releaseExpiredHolds(), 1);
    assert.equal((await counters(h, c.id)).budget.reserved_minor, 0);
    await assertInvariants(h.store);
  });

  test('every 422 a redemption can meet, each changing nothing', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, {
      coupon_ttl_s: 3600,
      merchant_ids: ['m1', 'm2'],
      per_merchant_limit: 1,
      budget_minor: 2000,
      max_redemptions: 3,
    });
    const coupons = await Promise.all(['u1', 'u2', 'u3', 'u4', 'u5'].map((u) => claim(h, c.id, u)));
    const [c1, c2, c3, c4] = coupons;
    assert.ok(c1 && c2 && c3 && c4);
    const before = await counters(h, c.id);
    const cases: Array<[Record<string, unknown>, string, string | undefined]> = [
      [
        { user_id: 'u1', code: c1.code, order: orderBody({ amount_minor: 4999 }) },
        'min_spend_not_met',
        'order.amount_minor',
      ],
      [
        { user_id: 'u1', code: c1.code, order: orderBody({ product_kind: 'virtual' }) },
        'product_kind_not_eligible',
        'order.product_kind',
      ],
      [
        { user_id: 'u1', code: c1.code, order: orderBody({ merchant_id: 'm9' }) },
        'merchant_not_eligible',
        'order.merchant_id',
      ],
      [{ user_id: 'u1', code: c1.code, order: orderBody({ currency: 'USD' }) }, 'currency_mismatch', 'order.currency'],
      [{ user_id: 'u2', code: c1.code, order: orderBody() }, 'coupon_not_eligible_user', 'user_id'],
    ];
    for (const [body, code, param] of cases) assertError(await redeem(h, body), 422, code, param);
    // An order's currency is only compared with the campaign's: a code in no list is a mismatch too, so
    // a campaign stored in a code the list has since dropped still redeems in it.
    const nowhere = { user_id: 'u1', code: c1.code, order: orderBody({ currency: 'ZZZ' }) };
    assertError(await redeem(h, nowhere), 422, 'currency_mismatch', 'order.currency');
    assertError(
      await redeem(h, { ...nowhere, order: orderBody({ currency: 'cny' }) }),
      400,
      'invalid_request',
      'order.currency',
    );
    assert.deepEqual(await counters(h, c.id), before, 'refusals change nothing');

    assert.equal(
      (await redeem(h, { user_id: 'u1', code: c1.code, order: orderBody({ merchant_id: 'm1' }) })).status,
      201,
    );
    assertError(
      await redeem(h, { user_id: 'u2', code: c2.code, order: orderBody({ merchant_id: 'm1' }) }),
      422,
      'per_merchant_limit_reached',
    );
    assert.equal(
      (await redeem(h, { user_id: 'u2', code: c2.code, order: orderBody({ merchant_id: 'm2' }) })).status,
      201,
    );
    assertError(
      await redeem(h, { user_id: 'u3', code: c3.code, order: orderBody({ merchant_id: 'm2' }) }),
      422,
      'per_merchant_limit_reached',
    );
    await h.call('POST', `/v1/campaigns/${c.id}/pause`);
    assertError(await redeem(h, { user_id: 'u3', code: c3.code, order: orderBody() }), 422, 'campaign_paused');
    await h.call('POST', `/v1/campaigns/${c.id}/resume`);
    h.clock.advance(3600_000);
    assertError(await redeem(h, { user_id: 'u3', code: c3.code, order: orderBody() }), 422, 'coupon_expired');
    await assertInvariants(h.store);
  });

  test('budget_exhausted, usage_limit_reached and per_user_limit_reached', async () => {
    const h = await httpHarness();
    const budget = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'BUDGET',
      budget_minor: 1000,
      per_user_limit: 5,
      max_redemptions: null,
    });
    assert.equal((await redeem(h, { user_id: 'u1', code: 'budget', order: orderBody() })).status, 201);
    assertError(await redeem(h, { user_id: 'u2', code: 'BUDGET', order: orderBody() }), 422, 'budget_exhausted');
    const usage = await activeCampaign(h, {
      name: 'usage',
      code_mode: 'shared_code',
      code: 'USAGE',
      max_redemptions: 1,
      per_user_limit: 5,
    });
    assert.equal((await redeem(h, { user_id: 'u1', code: 'USAGE', order: orderBody() })).status, 201);
    assertError(await redeem(h, { user_id: 'u2', code: 'USAGE', order: orderBody() }), 422, 'usage_limit_reached');
    const perUser = await activeCampaign(h, {
      name: 'per-user',
      code_mode: 'shared_code',
      code: 'ONCE',
      per_user_limit: 1,
    });
    assert.equal((await redeem(h, { user_id: 'u1', code: 'ONCE', order: orderBody() })).status, 201);
    assertError(
      await redeem(h, { user_id: 'u1', code: 'ONCE', order: orderBody({ id: 'o2' }) }),
      422,
      'per_user_limit_reached',
      'user_id',
    );
    assert.equal((await counters(h, budget.id)).budget.available_minor, 0);
    assert.equal((await counters(h, usage.id)).budget.reserved_minor, 1000);
    assert.equal((await counters(h, perUser.id)).budget.reserved_minor, 1000);
    await assertInvariants(h.store);
  });

  test('revoked and ended campaigns refuse redemptions of coupons claimed before', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { coupon_ttl_s: null });
    const coupon = await claim(h, c.id, 'u1');
    h.clock.set(t0 + 30 * day_ms);
    assertError(await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody() }), 422, 'campaign_ended');
    h.clock.set(t0 + 60_000);
    await h.call('POST', `/v1/campaigns/${c.id}/revoke`);
    assertError(await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody() }), 422, 'campaign_revoked');
    await assertInvariants(h.store);
  });

  test('coupon lookups: unknown code or id is 404 coupon_not_found; code and coupon_id are exclusive', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    assertError(await redeem(h, { user_id: 'u1', code: 'NOSUCHCODE', order: orderBody() }), 404, 'coupon_not_found');
    assertError(
      await redeem(h, { user_id: 'u1', coupon_id: 'cpn_nope', order: orderBody() }),
      404,
      'coupon_not_found',
      'coupon_id',
    );
    const typo = `${coupon.code.slice(0, -1)}${coupon.code.endsWith('0') ? '1' : '0'}`;
    assertError(await redeem(h, { user_id: 'u1', code: typo, order: orderBody() }), 404, 'coupon_not_found');
    assertError(await redeem(h, { user_id: 'u1', order: orderBody() }), 400, 'invalid_request', 'code');
    assertError(
      await redeem(h, { user_id: 'u1', code: coupon.code, coupon_id: coupon.id, order: orderBody() }),
      400,
      'invalid_request',
      'coupon_id',
    );
    assertError(
      await redeem(h, { user_id: 'u1', code: coupon.code, order: orderBody(), ip: 'not-an-ip' }),
      400,
      'invalid_request',
      'ip',
    );
    assert.equal(
      (await redeem(h, { user_id: 'u1', code: coupon.code.toLowerCase(), order: orderBody(), ip: '203.0.113.7' }))
        .status,
      201,
    );
    await assertInvariants(h.store);
  });
});

describe('GET /v1/redemptions', () => {
  test('lists with campaign_id, merchant_id and status filters; GET one; 404', async () => {
    const h = await httpHarness();
    const a = await activeCampaign(h, { code_mode: 'shared_code', code: 'AAA', per_user_limit: 10 });
    const b = await activeCampaign(h, { name: 'b', code_mode: 'shared_code', code: 'BBB', per_user_limit: 10 });
    const ids: string[] = [];
    for (const [i, [code, m, confirm]] of (
      [
        ['AAA', 'm1', true],
        ['AAA', 'm2', false],
        ['BBB', 'm1', false],
      ] as const
    ).entries()) {
      h.clock.advance(1000);
      const r = await redeem(h, { user_id: `u${i}`, code, order: orderBody({ id: `o${i}`, merchant_id: m }), confirm });
      ids.push(r.body.id);
    }
    const list = (q: string) =>
      h
        .call<ListWire<RedemptionWire>>('GET', `/v1/redemptions${q}`, { key: 'read' })
        .then((r) => r.body.data.map((x) => x.id));
    assert.deepEqual(await list(''), [ids[2], ids[1], ids[0]]);
    assert.deepEqual(await list(`?campaign_id=${a.id}`), [ids[1], ids[0]]);
    assert.deepEqual(await list(`?campaign_id=${b.id}`), [ids[2]]);
    assert.deepEqual(await list('?merchant_id=m1'), [ids[2], ids[0]]);
    assert.deepEqual(await list('?status=confirmed'), [ids[0]]);
    assert.deepEqual(await list(`?campaign_id=${a.id}&status=reserved&merchant_id=m2`), [ids[1]]);
    assert.deepEqual(await list(`?limit=1&starting_after=${ids[2]}`), [ids[1]]);
    assertError(await h.call('GET', '/v1/redemptions?status=spent', { key: 'read' }), 400, 'invalid_request', 'status');
    const one = await h.call<RedemptionWire>('GET', `/v1/redemptions/${ids[0]}`, { key: 'read' });
    assert.equal(one.status, 200);
    assert.equal(one.body.status, 'confirmed');
    assertError(await h.call('GET', '/v1/redemptions/rdm_nope', { key: 'read' }), 404, 'not_found');
  });
});
