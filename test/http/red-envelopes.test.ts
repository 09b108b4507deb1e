import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { fingerprintOf } from '../../src/engine/audit.ts';
import type { GrabWire, RedEnvelopeWire } from '../../src/http/red-envelope-view.ts';
import type { RedemptionWire } from '../../src/http/views.ts';
import {
  type Answer,
  assertError,
  assertInvariants,
  day_ms,
  type HttpHarness,
  httpHarness,
  iso,
  type ListWire,
  orderBody,
} from './harness.ts';

const hour_ms = 3_600_000;

function envelopeBody(h: HttpHarness, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    currency: 'CNY',
    total_minor: 10_000,
    count: 100,
    expires_at: iso(h.clock.now() + day_ms),
    coupon: { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 },
    ...over,
  };
}

async function createEnvelope(h: HttpHarness, over: Record<string, unknown> = {}): Promise<RedEnvelopeWire> {
  const res = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body: envelopeBody(h, over) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

function grab(h: HttpHarness, id: string, user_id: string, idem?: string): Promise<Answer<GrabWire>> {
  return h.call<GrabWire>('POST', `/v1/red-envelopes/${id}/grab`, {
    key: 'checkout',
    body: { user_id },
    ...(idem ? { idem } : {}),
  });
}

function tally(answers: Answer<unknown>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const a of answers) {
    const key = a.status === 201 ? '201' : `${a.status} ${(a.body as { error: { code: string } }).error.code}`;
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

describe('POST /v1/red-envelopes', () => {
  test('creates an active envelope with the API.md fields and defaults', async () => {
    const h = await httpHarness();
    const res = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', {
      body: { currency: 'CNY', total_minor: 888, count: 8, expires_at: iso(h.clock.now() + hour_ms) },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const e = res.body;
    assert.match(e.id, /^env_/);
    assert.match(e.campaign_id, /^cmp_/);
    assert.deepEqual(
      { ...e, id: '', campaign_id: '' },
      {
        id: '',
        campaign_id: '',
        currency: 'CNY',
        total_minor: 888,
        count: 8,
        min_amount_minor: 1,
        expires_at: iso(h.clock.now() + hour_ms),
        grabbed_count: 0,
        grabbed_minor: 0,
        remaining_minor: 888,
        status: 'active',
        campaign_status: 'active',
        refunded_minor: 0,
        refunded_at: null,
        created_at: iso(h.clock.now()),
        coupon: { min_spend_minor: 0, product_kinds: e.coupon.product_kinds, coupon_ttl_s: 7 * 86_400 },
      },
    );
    assert.ok(!e.coupon.product_kinds.includes('phone_top_up'), 'no cash equivalents by default');
    const got = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    assert.deepEqual(got.body, e);
    const campaign = await h.call<{ code_mode: string; status: string; budget_minor: number }>(
      'GET',
      `/v1/campaigns/${e.campaign_id}`,
      { key: 'read' },
    );
    assert.equal(campaign.body.code_mode, 'red_envelope');
    assert.equal(campaign.body.status, 'active');
    assert.equal(campaign.body.budget_minor, 888);
    await assertInvariants(h.store);
  });

  test('a risky envelope waits for a second key: above the approval threshold, or with cash equivalents', async () => {
    const h = await httpHarness({ approval_threshold_minor: 100_000 });
    // 1,000 packets: none of the random split comes near 50.00, which the lint would call high value.
    const small = await createEnvelope(h, { total_minor: 100_000, count: 1_000 });
    assert.equal(small.campaign_status, 'active', 'at the threshold: no approval needed');
    for (const over of [
      { total_minor: 100_001, count: 100 },
      { coupon: { min_spend_minor: 0, product_kinds: ['phone_top_up'], coupon_ttl_s: 86_400 } },
    ]) {
      const e = await createEnvelope(h, over);
      assert.equal(e.campaign_status, 'pending_approval', JSON.stringify(over));
      assert.equal(e.status, 'active', 'the envelope itself is live: it expires and refunds on time');
      const campaign = await h.call<{ status: string; lint: Array<{ rule: string }> }>(
        'GET',
        `/v1/campaigns/${e.campaign_id}`,
      );
      assert.equal(campaign.body.status, 'pending_approval');
      assertError(await grab(h, e.id, 'early'), 422, 'campaign_not_active');
      const self = await h.call('POST', `/v1/campaigns/${e.campaign_id}/approve`, { body: {} });
      assertError(self, 403, 'approval_self_forbidden');
      const approved = await h.call<{ status: string }>('POST', `/v1/campaigns/${e.campaign_id}/approve`, {
        key: 'approver',
        body: {},
      });
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.status, 'active');
      const got = await grab(h, e.id, 'early');
      assert.equal(got.status, 201, JSON.stringify(got.body));
      const after = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
      assert.equal(after.body.campaign_status, 'active');
      assert.equal(after.body.grabbed_count, 1);
    }
    // verify replays each backing campaign's status from its chain: pending at creation, then approved.
    await assertInvariants(h.store);
  });

  test('an envelope waiting for approval that expires refunds everything; nobody grabbed', async () => {
    const h = await httpHarness({ approval_threshold_minor: 0 });
    const e = await createEnvelope(h, { expires_at: iso(h.clock.now() + hour_ms) });
    assert.equal(e.campaign_status, 'pending_approval');
    h.clock.advance(hour_ms);
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 1);
    const got = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    assert.equal(got.body.status, 'expired');
    assert.equal(got.body.refunded_minor, e.total_minor);
    assert.equal(got.body.grabbed_count, 0);
    await assertInvariants(h.store);
  });

  test('refuses bad envelopes with 400 naming the field, and creates nothing', async () => {
    const h = await httpHarness();
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ total_minor: 99 }, 'total_minor'],
      [{ count: 0 }, 'count'],
      [{ count: 100_001 }, 'count'],
      [{ total_minor: 10.5 }, 'total_minor'],
      [{ total_minor: -1 }, 'total_minor'],
      [{ min_amount_minor: 0 }, 'min_amount_minor'],
      [{ min_amount_minor: 101 }, 'total_minor'],
      [{ expires_at: iso(h.clock.now() - 1000) }, 'expires_at'],
      [{ expires_at: '2026-02-30T00:00:00Z' }, 'expires_at'],
      [{ currency: 'cny' }, 'currency'],
      [{ coupon: { coupon_ttl_s: 0 } }, 'coupon.coupon_ttl_s'],
      [{ coupon: { product_kinds: [] } }, 'coupon.product_kinds'],
      [{ coupon: { surprise: 1 } }, 'coupon.surprise'],
      [{ budget_minor: 5 }, 'budget_minor'],
    ];
    for (const [over, param] of bad) {
      const res = await h.call('POST', '/v1/red-envelopes', { body: envelopeBody(h, over) });
      assertError(res, 400, 'invalid_request', param);
    }
    const list = await h.call<ListWire<RedEnvelopeWire>>('GET', '/v1/red-envelopes', { key: 'read' });
    assert.deepEqual(list.body, { data: [], has_more: false });
  });

  test('a read key cannot recover the split from the audit log: the next packet stays unpredictable', async () => {
    const h = await httpHarness();
    const e = await createEnvelope(h, { total_minor: 300, count: 3 });
    const audit = await h.call<ListWire<{ action: string; data: { packets_sha256?: unknown } }>>(
      'GET',
      '/v1/audit?limit=100',
      { key: 'read' },
    );
    const created = audit.body.data.find((a) => a.action === 'red_envelope.created');
    assert.equal(typeof created?.data.packets_sha256, 'string', 'the creation entry still fingerprints the split');
    // Every split of 300 into three packets is only 44,551 candidates: an unkeyed digest names the one made.
    const matches: number[][] = [];
    for (let a = 1; a < 300; a++) {
      for (let b = 1; a + b < 300; b++) {
        const packets = [a, b, 300 - a - b];
        if (fingerprintOf(packets) === created?.data.packets_sha256) matches.push(packets);
      }
    }
    assert.deepEqual(matches, [], 'the packets, in the order grabs take them, read off the audit log');
    const first = await grab(h, e.id, 'u1');
    assert.equal(first.status, 201);
    await assertInvariants(h.store);
  });

  test('scopes: admin creates, checkout grabs, read reads', async () => {
    const h = await httpHarness();
    assertError(
      await h.call('POST', '/v1/red-envelopes', { key: 'checkout', body: envelopeBody(h) }),
      403,
      'forbidden',
    );
    const e = await createEnvelope(h);
    assertError(
      await h.call('POST', `/v1/red-envelopes/${e.id}/grab`, { key: 'read', body: { user_id: 'u' } }),
      403,
      'forbidden',
    );
    assertError(await h.call('GET', `/v1/red-envelopes/${e.id}`, { key: 'checkout' }), 403, 'forbidden');
    assertError(await h.call('GET', '/v1/red-envelopes/env_nope', { key: 'read' }), 404, 'not_found');
    assertError(await grab(h, 'env_nope', 'u1'), 404, 'not_found');
    assertError(
      await h.call('POST', `/v1/red-envelopes/${e.id}/grab`, { key: 'checkout', body: {} }),
      400,
      'invalid_request',
      'user_id',
    );
  });

  test('an Idempotency-Key replays the creation', async () => {
    const h = await httpHarness();
    const body = envelopeBody(h);
    const a = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body, idem: 'env-1' });
    const b = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body, idem: 'env-1' });
    assert.equal(b.status, 201);
    assert.deepEqual(b.body, a.body);
    assertError(
      await h.call('POST', '/v1/red-envelopes', { body: { ...body, count: 10 }, idem: 'env-1' }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
    const list = await h.call<ListWire<RedEnvelopeWire>>('GET', '/v1/red-envelopes', { key: 'read' });
    assert.equal(list.body.data.length, 1);
  });

  test('a replay after grabs, expiry and the refund is still the first answer, status and body', async () => {
    const h = await httpHarness();
    const body = envelopeBody(h, { total_minor: 1_000, count: 4, expires_at: iso(h.clock.now() + hour_ms) });
    const first = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body, idem: 'env-late' });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.status, 'active');
    const grabbed = [await grab(h, first.body.id, 'u1'), await grab(h, first.body.id, 'u2')];
    assert.deepEqual(
      grabbed.map((g) => g.status),
      [201, 201],
    );
    const afterGrabs = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body, idem: 'env-late' });
    assert.equal(afterGrabs.status, first.status);
    assert.deepEqual(afterGrabs.body, first.body);
    // The replay does not put the gauge back to the creation's figure.
    const left = 1_000 - grabbed.reduce((sum, g) => sum + g.body.amount_minor, 0);
    const metrics = String((await h.call<string>('GET', '/metrics', { key: 'read' })).body);
    assert.match(
      metrics,
      new RegExp(`vouchsafe_red_envelope_remaining_minor\\{envelope_id="${first.body.id}"\\} ${left}\n`),
    );
    h.clock.advance(hour_ms);
    const afterExpiry = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body, idem: 'env-late' });
    assert.equal(afterExpiry.status, first.status);
    assert.deepEqual(afterExpiry.body, first.body);
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 1);
    const afterRefund = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', { body, idem: 'env-late' });
    assert.equal(afterRefund.status, first.status);
    assert.deepEqual(afterRefund.body, first.body);
    const now = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${first.body.id}`, { key: 'read' });
    assert.equal(now.body.status, 'expired', 'GET shows the envelope as it is now');
    assert.equal(now.body.grabbed_count, 2);
    assert.equal(now.body.refunded_minor + now.body.grabbed_minor, 1_000);
    const list = await h.call<ListWire<RedEnvelopeWire>>('GET', '/v1/red-envelopes', { key: 'read' });
    assert.equal(list.body.data.length, 1, 'replays create nothing');
    await assertInvariants(h.store);
  });
});

describe('POST /v1/red-envelopes/{id}/grab', () => {
  test('1,000 concurrent grabs of 100 packets: 100 coupons summing to the total, 900 red_envelope_empty', async () => {
    const h = await httpHarness({ batch_commands_max: 128 });
    const e = await createEnvelope(h, { total_minor: 12_345, count: 100 });
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => grab(h, e.id, `u${i}`)));
    assert.deepEqual(
      tally(answers),
      new Map([
        ['201', 100],
        ['422 red_envelope_empty', 900],
      ]),
    );
    const won = answers.filter((a) => a.status === 201).map((a) => a.body);
    assert.equal(
      won.reduce((s, g) => s + g.amount_minor, 0),
      12_345,
    );
    for (const g of won) {
      assert.equal(g.coupon.value_minor, g.amount_minor);
      assert.equal(g.coupon.status, 'active');
      assert.equal(g.coupon.campaign_id, e.campaign_id);
    }
    const got = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    assert.equal(got.body.status, 'exhausted');
    assert.equal(got.body.grabbed_count, 100);
    assert.equal(got.body.grabbed_minor, 12_345);
    assert.equal(got.body.remaining_minor, 0);
    const metrics = await h.call<string>('GET', '/metrics', { key: 'read' });
    const text = String(metrics.body);
    assert.match(text, /vouchsafe_red_envelope_grabs_total\{outcome="grabbed"\} 100/);
    assert.match(text, /vouchsafe_red_envelope_grabs_total\{outcome="red_envelope_empty"\} 900/);
    assert.match(text, new RegExp(`vouchsafe_red_envelope_remaining_minor\\{envelope_id="${e.id}"\\} 0`));
    await assertInvariants(h.store);
  });

  test("the envelope shows its campaign's status: paused or revoked, grabs are refused", async () => {
    const h = await httpHarness();
    const e = await createEnvelope(h, { total_minor: 1_000, count: 10 });
    assert.equal((await grab(h, e.id, 'u1')).status, 201);
    const pause = await h.call('POST', `/v1/campaigns/${e.campaign_id}/pause`, { body: { reason: 'drill' } });
    assert.equal(pause.status, 200, JSON.stringify(pause.body));
    const paused = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    assert.deepEqual([paused.body.status, paused.body.campaign_status], ['active', 'paused']);
    assertError(await grab(h, e.id, 'u2'), 422, 'campaign_paused');
    const revoke = await h.call('POST', `/v1/campaigns/${e.campaign_id}/revoke`, { body: { reason: 'drill' } });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));
    const listed = await h.call<ListWire<RedEnvelopeWire>>('GET', '/v1/red-envelopes', { key: 'read' });
    assert.equal(listed.body.data[0]?.campaign_status, 'revoked');
    assertError(await grab(h, e.id, 'u3'), 422, 'campaign_revoked');
    await assertInvariants(h.store);
  });

  test('1,000 concurrent grabs through a real socket stay exact', async () => {
    const h = await httpHarness({ batch_commands_max: 128 });
    const e = await createEnvelope(h, { total_minor: 5_000, count: 100 });
    const url = await h.app.listen({ port: 0, host: '127.0.0.1', backlog: limits.listen_backlog });
    try {
      const answers = await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const res = await fetch(`${url}/v1/red-envelopes/${e.id}/grab`, {
            method: 'POST',
            headers: { authorization: `Bearer ${h.keys.checkout.secret}`, 'content-type': 'application/json' },
            body: JSON.stringify({ user_id: `s${i}` }),
          });
          return { status: res.status, body: (await res.json()) as unknown, headers: {} };
        }),
      );
      assert.deepEqual(
        tally(answers),
        new Map([
          ['201', 100],
          ['422 red_envelope_empty', 900],
        ]),
      );
      const sum = answers.reduce((s, a) => s + (a.status === 201 ? (a.body as GrabWire).amount_minor : 0), 0);
      assert.equal(sum, 5_000);
    } finally {
      await h.app.close();
    }
    await assertInvariants(h.store);
  });

  test('a second grab by the same user is 409 already_grabbed; a replayed key is the first answer', async () => {
    const h = await httpHarness();
    const e = await createEnvelope(h);
    const first = await grab(h, e.id, 'u1', 'g-1');
    assert.equal(first.status, 201);
    assertError(await grab(h, e.id, 'u1'), 409, 'already_grabbed', 'user_id');
    const replay = await grab(h, e.id, 'u1', 'g-1');
    assert.equal(replay.status, 201);
    assert.deepEqual(replay.body, first.body);
    const got = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    assert.equal(got.body.grabbed_count, 1);
  });

  test('grabbed coupons redeem through /v1/redemptions; expiry refunds exactly the rest', async () => {
    const h = await httpHarness();
    const e = await createEnvelope(h, {
      total_minor: 3_000,
      count: 3,
      min_amount_minor: 500,
      expires_at: iso(h.clock.now() + hour_ms),
    });
    const a = (await grab(h, e.id, 'a')).body;
    const b = (await grab(h, e.id, 'b')).body;
    const redeemed = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'a', code: a.coupon.code, order: orderBody({ amount_minor: 100_000 }), confirm: true },
    });
    assert.equal(redeemed.status, 201, JSON.stringify(redeemed.body));
    assert.equal(redeemed.body.discount_minor, a.amount_minor);
    assertError(
      await h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        body: { user_id: 'a', coupon_id: b.coupon.id, order: orderBody({ id: 'o2' }) },
      }),
      422,
      'coupon_not_eligible_user',
    );
    h.clock.advance(hour_ms);
    assertError(await grab(h, e.id, 'c'), 422, 'red_envelope_expired');
    const expiredUnsettled = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    assert.equal(expiredUnsettled.body.status, 'expired');
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 1);
    const got = await h.call<RedEnvelopeWire>('GET', `/v1/red-envelopes/${e.id}`, { key: 'read' });
    const rest = 3_000 - a.amount_minor - b.amount_minor;
    assert.equal(got.body.status, 'expired');
    assert.equal(got.body.refunded_minor, rest);
    assert.equal(got.body.remaining_minor, 0);
    assert.equal(got.body.refunded_at, iso(h.clock.now()));
    const later = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'b', coupon_id: b.coupon.id, order: orderBody({ id: 'o3', amount_minor: 300 }) },
    });
    assert.equal(later.status, 201, 'a grabbed coupon outlives the envelope');
    assert.equal(later.body.discount_minor, Math.min(300, b.amount_minor));
    await assertInvariants(h.store);
  });

  test('the list shows newest first and pages', async () => {
    const h = await httpHarness();
    const made = [await createEnvelope(h), await createEnvelope(h), await createEnvelope(h)];
    const page = await h.call<ListWire<RedEnvelopeWire>>('GET', '/v1/red-envelopes?limit=2', { key: 'read' });
    assert.deepEqual(
      page.body.data.map((e) => e.id),
      [made[2]?.id, made[1]?.id],
    );
    assert.equal(page.body.has_more, true);
    const rest = await h.call<ListWire<RedEnvelopeWire>>(
      'GET',
      `/v1/red-envelopes?limit=2&starting_after=${made[1]?.id}`,
      {
        key: 'read',
      },
    );
    assert.deepEqual(
      rest.body.data.map((e) => e.id),
      [made[0]?.id],
    );
  });
});
