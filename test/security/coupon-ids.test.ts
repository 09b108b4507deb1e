import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RedemptionWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  claim,
  type HttpHarness,
  httpHarness,
  type ListWire,
  orderBody,
} from '../http/harness.ts';

let seq = 0;

/** Each call from its own user and address, so the lockout for failed lookups stays out of the way. */
function body(named: Record<string, string>, over: Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  return { user_id: `u${seq}`, ...named, order: orderBody({ id: `o${seq}` }), ip: `198.51.100.${seq}`, ...over };
}

/** What a refused request must leave as it was: the campaign (budget, counts), its redemptions, its audit chain. */
async function stateOf(h: HttpHarness, campaign_id: string) {
  const campaign = (await h.call<Record<string, unknown>>('GET', `/v1/campaigns/${campaign_id}`, { key: 'read' })).body;
  const url = `/v1/redemptions?campaign_id=${campaign_id}&limit=100`;
  const redemptions = (await h.call<ListWire<RedemptionWire>>('GET', url, { key: 'read' })).body.data;
  const audit_entries = (await h.store.auditChain(campaign_id)).length;
  return { budget: campaign.budget, counts: campaign.counts, redemptions, audit_entries };
}

describe('a unique (bearer) coupon is named by its code, never by its coupon_id', () => {
  test('POST /v1/redemptions and /v1/validations by a leaked id: as an unknown id, and nothing changes', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 10 });
    const made = await h.call<{ codes: string[] }>('POST', `/v1/campaigns/${c.id}/codes`, { body: { count: 3 } });
    assert.equal(made.status, 201);
    const [a, b] = made.body.codes;
    assert.ok(a && b);
    // One holder redeems a code; the answer (like lists and webhooks) shows its coupon_id, and a
    // batch's ids differ in a counter, so the others' ids can be worked out from it.
    const first = await h.call<RedemptionWire>('POST', '/v1/redemptions', { key: 'checkout', body: body({ code: a }) });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const neighbour = (await h.store.findCouponByCode(b))?.id;
    assert.ok(neighbour);
    const before = await stateOf(h, c.id);

    const unknown = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: body({ coupon_id: 'cpn_nope' }),
    });
    assertError(unknown, 404, 'coupon_not_found', 'coupon_id');
    for (const id of [first.body.coupon_id, neighbour]) {
      for (const confirm of [false, true]) {
        const res = await h.call('POST', '/v1/redemptions', {
          key: 'checkout',
          body: body({ coupon_id: id }, { confirm }),
        });
        assertError(res, 404, 'coupon_not_found', 'coupon_id');
        assert.deepEqual(res.body, unknown.body, 'indistinguishable from an id that does not exist');
      }
      const dry = await h.call('POST', '/v1/validations', { key: 'checkout', body: body({ coupon_id: id }) });
      assert.equal(dry.status, 200);
      assert.deepEqual(dry.body, {
        valid: false,
        discount_minor: 0,
        reason: { code: 'coupon_not_found', message: 'no such coupon' },
      });
    }
    assert.deepEqual(await stateOf(h, c.id), before, 'a refused id changes nothing');
    assert.equal((await h.store.getCoupon(neighbour))?.status, 'active');

    const byCode = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
      key: 'checkout',
      body: body({ code: b }, { confirm: true }),
    });
    assert.equal(byCode.status, 201, JSON.stringify(byCode.body));
    assert.equal(byCode.body.coupon_id, neighbour);
    assert.equal(byCode.body.status, 'confirmed');
    await assertInvariants(h.store);
  });

  test('a claimed coupon still redeems by coupon_id, for its owner only', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'owner');
    const other = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: body({ coupon_id: coupon.id }, { user_id: 'not-owner' }),
    });
    assertError(other, 422, 'coupon_not_eligible_user', 'user_id');
    const mine = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
      key: 'checkout',
      body: body({ coupon_id: coupon.id }, { user_id: 'owner' }),
    });
    assert.equal(mine.status, 201, JSON.stringify(mine.body));
    assert.equal(mine.body.coupon_id, coupon.id);
    await assertInvariants(h.store);
  });

  test("someone else's claimed coupon tells nothing of its state: redeemed or expired, the answer is the same", async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const used = await claim(h, c.id, 'owner');
    const spent = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: body({ coupon_id: used.id }, { user_id: 'owner', confirm: true }),
    });
    assert.equal(spent.status, 201, JSON.stringify(spent.body));
    const idle = await claim(h, c.id, 'owner-2');
    const asOwner = (coupon_id: string, user_id: string) =>
      h.call('POST', '/v1/redemptions', { key: 'checkout', body: body({ coupon_id }, { user_id }) });
    assertError(await asOwner(used.id, 'owner'), 409, 'coupon_already_redeemed');
    assertError(await asOwner(used.id, 'not-owner'), 422, 'coupon_not_eligible_user', 'user_id');
    h.clock.advance(8 * 24 * 3600_000); // past the coupon's 7-day ttl, inside the campaign
    assertError(await asOwner(idle.id, 'owner-2'), 422, 'coupon_expired');
    assertError(await asOwner(idle.id, 'not-owner'), 422, 'coupon_not_eligible_user', 'user_id');
    const v = await h.call<{ valid: boolean; reason: { code: string } | null }>('POST', '/v1/validations', {
      key: 'checkout',
      body: body({ coupon_id: used.id }, { user_id: 'not-owner' }),
    });
    assert.deepEqual([v.status, v.body.valid, v.body.reason?.code], [200, false, 'coupon_not_eligible_user']);
    await assertInvariants(h.store);
  });

  test("someone else's claimed coupon that an incident revoked: the same answer, once the campaign resumes", async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const kept = await claim(h, c.id, 'owner');
    const opened = await h.call<{ status: string; report: { revoked_coupons: number } }>('POST', '/v1/incidents', {
      body: { title: 'leak', scope: { campaign_ids: [c.id] }, actions: ['pause_campaigns', 'revoke_unredeemed'] },
    });
    assert.equal(opened.status, 201, JSON.stringify(opened.body));
    assert.equal(opened.body.report.revoked_coupons, 1);
    const asUser = (user_id: string) =>
      h.call('POST', '/v1/redemptions', { key: 'checkout', body: body({ coupon_id: kept.id }, { user_id }) });
    // While paused, the campaign answers first, for everyone alike.
    assertError(await asUser('owner'), 422, 'campaign_paused');
    assertError(await asUser('not-owner'), 422, 'campaign_paused');
    assert.equal((await h.call('POST', `/v1/campaigns/${c.id}/resume`, { body: {} })).status, 200);
    assertError(await asUser('owner'), 422, 'coupon_revoked');
    assertError(await asUser('not-owner'), 422, 'coupon_not_eligible_user', 'user_id');
    const v = await h.call<{ valid: boolean; reason: { code: string } | null }>('POST', '/v1/validations', {
      key: 'checkout',
      body: body({ coupon_id: kept.id }, { user_id: 'not-owner' }),
    });
    assert.deepEqual([v.status, v.body.valid, v.body.reason?.code], [200, false, 'coupon_not_eligible_user']);
    await assertInvariants(h.store);
  });
});
