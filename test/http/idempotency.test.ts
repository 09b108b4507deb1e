import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire, CouponWire, RedemptionWire } from '../../src/http/views.ts';
import {
  type Answer,
  activeCampaign,
  assertError,
  assertInvariants,
  campaignBody,
  claim,
  httpHarness,
  type KeyName,
  type ListWire,
  orderBody,
} from './harness.ts';

function sameAnswer(a: Answer, b: Answer): void {
  assert.equal(b.status, a.status);
  assert.deepEqual(b.body, a.body);
}

describe('Idempotency-Key', () => {
  test('campaign create and actions replay the first answer; another body is 409 idempotency_key_reused', async () => {
    const h = await httpHarness();
    const first = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody(), idem: 'create-1' });
    h.clock.advance(5000);
    const replay = await h.call('POST', '/v1/campaigns', { body: campaignBody(), idem: 'create-1' });
    sameAnswer(first, replay);
    const list = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns');
    assert.equal(list.body.data.length, 1, 'one campaign, not two');
    assertError(
      await h.call('POST', '/v1/campaigns', { body: campaignBody({ name: 'other' }), idem: 'create-1' }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
    const submit = await h.call('POST', `/v1/campaigns/${first.body.id}/submit`, { idem: 'submit-1' });
    sameAnswer(submit, await h.call('POST', `/v1/campaigns/${first.body.id}/submit`, { idem: 'submit-1' }));
    const pause = await h.call('POST', `/v1/campaigns/${first.body.id}/pause`, {
      body: { reason: 'x' },
      idem: 'pause-1',
    });
    assertError(
      await h.call('POST', `/v1/campaigns/${first.body.id}/pause`, { body: { reason: 'y' }, idem: 'pause-1' }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
    await h.call('POST', `/v1/campaigns/${first.body.id}/resume`);
    sameAnswer(
      pause,
      await h.call('POST', `/v1/campaigns/${first.body.id}/pause`, { body: { reason: 'x' }, idem: 'pause-1' }),
    );
  });

  test('claims and redemptions replay; the money moves once', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'claim' });
    const claim1 = await h.call<CouponWire>('POST', '/v1/claims', {
      key: 'checkout',
      body: { campaign_id: c.id, user_id: 'u1' },
      idem: 'claim-1',
    });
    assert.equal(claim1.status, 201);
    sameAnswer(
      claim1,
      await h.call('POST', '/v1/claims', {
        key: 'checkout',
        body: { campaign_id: c.id, user_id: 'u1' },
        idem: 'claim-1',
      }),
    );
    const body = { user_id: 'u1', code: claim1.body.code, order: orderBody() };
    const r1 = await h.call<RedemptionWire>('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'pay-1' });
    assert.equal(r1.status, 201);
    h.clock.advance(1000);
    sameAnswer(r1, await h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'pay-1' }));
    assertError(
      await h.call('POST', '/v1/redemptions', {
        key: 'checkout',
        body: { ...body, order: orderBody({ amount_minor: 20_000 }) },
        idem: 'pay-1',
      }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
    const confirm = await h.call('POST', `/v1/redemptions/${r1.body.id}/confirm`, {
      key: 'checkout',
      idem: 'confirm-1',
    });
    assert.equal(confirm.status, 200);
    sameAnswer(
      confirm,
      await h.call('POST', `/v1/redemptions/${r1.body.id}/confirm`, { key: 'checkout', idem: 'confirm-1' }),
    );
    assertError(
      await h.call('POST', `/v1/redemptions/${r1.body.id}/confirm`, { key: 'checkout', idem: 'confirm-2' }),
      409,
      'invalid_state',
    );
    const view = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`);
    assert.deepEqual(view.body.budget, {
      total_minor: 100_000,
      reserved_minor: 0,
      spent_minor: 1000,
      available_minor: 99_000,
    });
    assert.deepEqual(view.body.counts, { claimed: 1, redeemed: 1 });
    await assertInvariants(h.store);
  });

  test('a refusal replays too, even after the cause is gone', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'REFUSE', per_user_limit: 5 });
    await h.call('POST', `/v1/campaigns/${c.id}/pause`);
    const body = { user_id: 'u1', code: 'REFUSE', order: orderBody() };
    const refused = await h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'k' });
    assertError(refused, 422, 'campaign_paused');
    await h.call('POST', `/v1/campaigns/${c.id}/resume`);
    sameAnswer(refused, await h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'k' }));
    assert.equal((await h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'k2' })).status, 201);
    await assertInvariants(h.store);
  });

  test('keys are namespaced per API key: two clients may use the same Idempotency-Key', async () => {
    const h = await httpHarness();
    const a = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ name: 'a' }), idem: 'same' });
    const b = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      key: 'admin2',
      body: campaignBody({ name: 'b' }),
      idem: 'same',
    });
    assert.equal(a.status, 201);
    assert.equal(b.status, 201);
    assert.notEqual(a.body.id, b.body.id);
  });

  test('concurrent retries with one key create one redemption', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const body = { user_id: 'u1', code: coupon.code, order: orderBody() };
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'burst' })),
    );
    for (const a of answers) sameAnswer(answers[0] as Answer, a);
    assert.equal(answers[0]?.status, 201);
    const list = await h.call<ListWire<RedemptionWire>>('GET', `/v1/redemptions?campaign_id=${c.id}`);
    assert.equal(list.body.data.length, 1);
    await assertInvariants(h.store);
  });

  test('validations and api-keys store their first answer', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const body = { user_id: 'u1', code: coupon.code, order: orderBody() };
    const v1 = await h.call('POST', '/v1/validations', { key: 'checkout', body, idem: 'v' });
    await h.call('POST', '/v1/redemptions', { key: 'checkout', body });
    sameAnswer(v1, await h.call('POST', '/v1/validations', { key: 'checkout', body, idem: 'v' }));
    const now = await h.call<{ valid: boolean }>('POST', '/v1/validations', { key: 'checkout', body });
    assert.equal(now.body.valid, false, 'without the key the answer is fresh');
    assertError(
      await h.call('POST', '/v1/validations', { key: 'checkout', body: { ...body, user_id: 'u2' }, idem: 'v' }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );

    const k1 = await h.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
      body: { name: 'pos', scopes: ['checkout'] },
      idem: 'key-1',
    });
    assert.equal(k1.status, 201);
    const k2 = await h.call('POST', '/v1/api-keys', { body: { name: 'pos', scopes: ['checkout'] }, idem: 'key-1' });
    sameAnswer(k1, k2);
    assert.equal((await h.store.listApiKeys()).filter((k) => k.name === 'pos').length, 1);
    assertError(
      await h.call('POST', '/v1/api-keys', { body: { name: 'pos2', scopes: ['checkout'] }, idem: 'key-1' }),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
    const stored = await h.store.getIdempotency(`${h.keys.admin.id}:key-1`);
    assert.ok(stored);
    assert.ok(!JSON.stringify(stored.result).includes(k1.body.key), 'the new key is sealed at rest');
  });

  test('a refusal from an endpoint outside the engine replays too; the key is then taken (API.md)', async () => {
    const h = await httpHarness();
    const missing = await h.call('POST', '/v1/api-keys/key_missing/revoke', { idem: 'rv-1' });
    assertError(missing, 404, 'not_found');
    sameAnswer(missing, await h.call('POST', '/v1/api-keys/key_missing/revoke', { idem: 'rv-1' }));
    const other = await h.call('POST', `/v1/api-keys/${h.keys.read.id}/revoke`, { idem: 'rv-1' });
    assertError(other, 409, 'idempotency_key_reused');
    assert.equal((await h.call('GET', '/v1/campaigns', { key: 'read' })).status, 200, 'the read key was not revoked');
  });

  test('an unknown id or code the engine refuses replays too, even once it exists; the key is then taken', async () => {
    const h = await httpHarness();
    const order = orderBody();
    const body = { user_id: 'u1', code: 'LATER', order };
    const missing = await h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'later' });
    assertError(missing, 404, 'coupon_not_found');
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'LATER', per_user_limit: null });
    sameAnswer(missing, await h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'later' }));
    const other = { ...body, user_id: 'u2' };
    assertError(
      await h.call('POST', '/v1/redemptions', { key: 'checkout', body: other, idem: 'later' }),
      409,
      'idempotency_key_reused',
    );
    const held = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { ...body, order: orderBody() },
    });
    assert.equal(held.status, 201);
    const draft = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ name: 'draft' }) });
    const envelope = await h.call<{ id: string }>('POST', '/v1/red-envelopes', {
      body: { currency: 'CNY', total_minor: 100, count: 1, expires_at: c.ends_at },
    });
    // [key, route of an unknown id, body; the same route for a real one, body]
    const cases: Array<[KeyName, string, unknown, string, unknown]> = [
      [
        'checkout',
        '/v1/claims',
        { campaign_id: 'cmp_missing', user_id: 'u3' },
        '/v1/claims',
        { campaign_id: c.id, user_id: 'u3' },
      ],
      ...(['confirm', 'release', 'reverse'] as const).map((verb): [KeyName, string, unknown, string, unknown] => [
        'checkout',
        `/v1/redemptions/rdm_missing/${verb}`,
        {},
        `/v1/redemptions/${held.body.id}/${verb}`,
        {},
      ]),
      ['admin', '/v1/campaigns/cmp_missing/submit', {}, `/v1/campaigns/${draft.body.id}/submit`, {}],
      ['admin', '/v1/campaigns/cmp_missing/pause', { reason: 'r' }, `/v1/campaigns/${c.id}/pause`, { reason: 'r' }],
      ['admin', '/v1/campaigns/cmp_missing', { name: 'n' }, `/v1/campaigns/${draft.body.id}`, { name: 'n' }],
      ['admin', '/v1/campaigns/cmp_missing/codes', { count: 1 }, `/v1/campaigns/${c.id}/codes`, { count: 1 }],
      [
        'checkout',
        '/v1/red-envelopes/env_missing/grab',
        { user_id: 'g' },
        `/v1/red-envelopes/${envelope.body.id}/grab`,
        { user_id: 'g' },
      ],
    ];
    for (const [key, unknown, unknownBody, real, realBody] of cases) {
      const idem = `missing ${unknown}`.replace(/ /g, '-');
      const first = await h.call('POST', unknown, { key, body: unknownBody, idem });
      assertError(first, 404, 'not_found');
      sameAnswer(first, await h.call('POST', unknown, { key, body: unknownBody, idem }));
      assertError(await h.call('POST', real, { key, body: realBody, idem }), 409, 'idempotency_key_reused');
    }
    // Nothing the refused keys were reused for happened.
    const after = await h.call<RedemptionWire>('GET', `/v1/redemptions/${held.body.id}`);
    assert.equal(after.body.status, 'reserved');
    assert.equal((await h.call<CampaignWire>('GET', `/v1/campaigns/${draft.body.id}`)).body.status, 'draft');
    assert.equal((await h.call<CampaignWire>('GET', `/v1/campaigns/${draft.body.id}`)).body.name, 'draft');
    assert.equal((await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`)).body.status, 'active');
    assert.equal(
      (await h.call<{ grabbed_count: number }>('GET', `/v1/red-envelopes/${envelope.body.id}`)).body.grabbed_count,
      0,
    );
    assert.equal((await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`)).body.counts.claimed, 0);
    await assertInvariants(h.store);
  });

  test('concurrent api-key creations with one Idempotency-Key create one key', async () => {
    const h = await httpHarness();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        h.call('POST', '/v1/api-keys', { body: { name: 'burst', scopes: ['read'] }, idem: 'once' }),
      ),
    );
    for (const a of answers) sameAnswer(answers[0] as Answer, a);
    assert.equal((await h.store.listApiKeys()).filter((k) => k.name === 'burst').length, 1);
  });

  test('a malformed Idempotency-Key is 400 invalid_request', async () => {
    const h = await httpHarness();
    const long = await h.call('POST', '/v1/campaigns', { body: campaignBody(), idem: 'x'.repeat(256) });
    assertError(long, 400, 'invalid_request', 'Idempotency-Key');
    const spaced = await h.call('POST', '/v1/campaigns', { body: campaignBody(), idem: 'a b' });
    assertError(spaced, 400, 'invalid_request', 'Idempotency-Key');
  });
});
