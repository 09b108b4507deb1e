import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StoreUnavailable } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertError, claim, day_ms, httpHarness, iso, orderBody } from './harness.ts';

type OpenApi = {
  openapi: string;
  paths: Record<
    string,
    Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>
  >;
};

describe('operations endpoints', () => {
  test('GET /openapi.json is generated from the route schemas', async () => {
    const h = await httpHarness();
    const res = await h.call<OpenApi>('GET', '/openapi.json', { key: null });
    assert.equal(res.status, 200);
    assert.match(res.body.openapi, /^3\./);
    const paths = Object.keys(res.body.paths);
    for (const p of [
      '/v1/campaigns',
      '/v1/campaigns/{id}',
      '/v1/campaigns/{id}/submit',
      '/v1/campaigns/{id}/approve',
      '/v1/campaigns/{id}/pause',
      '/v1/campaigns/{id}/resume',
      '/v1/campaigns/{id}/revoke',
      '/v1/campaigns/{id}/codes',
      '/v1/campaigns/{id}/exposure',
      '/v1/claims',
      '/v1/validations',
      '/v1/redemptions',
      '/v1/redemptions/{id}',
      '/v1/redemptions/{id}/confirm',
      '/v1/redemptions/{id}/release',
      '/v1/redemptions/{id}/reverse',
      '/v1/api-keys',
      '/healthz',
    ]) {
      assert.ok(paths.includes(p), `${p} is documented`);
    }
    const body = res.body.paths['/v1/redemptions']?.post?.requestBody?.content['application/json']?.schema;
    assert.ok(body?.properties.order, 'the redemption body schema is in the document');
    const ui = await h.call('GET', '/docs', { key: null });
    assert.equal(ui.status, 200);
    assert.match(String(ui.headers['content-type']), /html/);
  });

  test('GET /metrics: request latency, redemptions by outcome, budget per campaign', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { budget_minor: 1000 });
    const a = await claim(h, c.id, 'u1');
    const b = await claim(h, c.id, 'u2');
    await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'u1', code: a.code, order: orderBody(), confirm: true },
    });
    await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'u2', code: b.code, order: orderBody() },
    });
    const res = await h.call<string>('GET', '/metrics', { key: 'read' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const text = res.body;
    assert.match(
      text,
      /vouchsafe_http_request_duration_seconds_bucket\{.*route="\/v1\/redemptions".*status_code="201"/,
    );
    assert.match(text, /vouchsafe_redemptions_total\{outcome="confirmed"\} 1/);
    assert.match(text, /vouchsafe_redemptions_total\{outcome="budget_exhausted"\} 1/);
    assert.ok(text.includes(`vouchsafe_campaign_budget_minor{campaign_id="${c.id}",part="spent"} 1000`));
    assert.ok(text.includes(`vouchsafe_campaign_budget_minor{campaign_id="${c.id}",part="available"} 0`));
    assert.match(text, /vouchsafe_engine_pending_commands 0/);
    assert.ok(!text.includes(a.code), 'no codes in metrics');
  });

  test('GET /metrics: a redemption or grab the store could not take counts as the code answered, store_unavailable', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const h = await httpHarness({}, {}, store);
    const c = await activeCampaign(h);
    const a = await claim(h, c.id, 'u1');
    const expires_at = iso(h.clock.now() + day_ms);
    const coupon = { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 };
    const envelope = { currency: 'CNY', total_minor: 10_000, count: 10, expires_at, coupon };
    const e = await h.call<{ id: string }>('POST', '/v1/red-envelopes', { body: envelope });
    assert.equal(e.status, 201, JSON.stringify(e.body));
    const down = async () => {
      throw new StoreUnavailable('connection refused');
    };
    store.runBatch = down;
    store.runBatches = down;
    const redeemed = await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'u1', code: a.code, order: orderBody(), confirm: true },
    });
    assertError(redeemed, 503, 'store_unavailable');
    const grabbed = await h.call('POST', `/v1/red-envelopes/${e.body.id}/grab`, {
      key: 'checkout',
      body: { user_id: 'u1' },
    });
    assertError(grabbed, 503, 'store_unavailable');
    const text = (await h.call<string>('GET', '/metrics', { key: 'read' })).body;
    const outcomes = text
      .split('\n')
      .filter((l) => l.includes('{outcome='))
      .join('\n');
    assert.match(outcomes, /vouchsafe_redemptions_total\{outcome="store_unavailable"\} 1/);
    assert.match(outcomes, /vouchsafe_red_envelope_grabs_total\{outcome="store_unavailable"\} 1/);
    assert.doesNotMatch(outcomes, /outcome="error"/);
  });
});
