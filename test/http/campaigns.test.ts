import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import type { CampaignWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  campaignBody,
  type ErrorWire,
  httpHarness,
  type ListWire,
} from './harness.ts';

describe('POST /v1/campaigns', () => {
  test('creates a draft and answers 201 with every API.md field', async () => {
    const h = await httpHarness();
    const res = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody() });
    assert.equal(res.status, 201);
    const c = res.body;
    assert.match(c.id, /^cmp_/);
    assert.deepEqual(
      { ...c, id: '' },
      {
        id: '',
        name: 'spring',
        status: 'draft',
        status_reason: null,
        needs_approval: false,
        currency: 'CNY',
        discount: { type: 'fixed', amount_minor: 1000 },
        min_spend_minor: 5000,
        product_kinds: ['merchandise'],
        merchant_ids: null,
        audience: { type: 'public' },
        starts_at: '2026-01-01T00:00:00Z',
        ends_at: '2026-01-31T00:00:00Z',
        coupon_ttl_s: 604800,
        budget_minor: 100_000,
        max_redemptions: 100,
        per_user_limit: 1,
        per_merchant_limit: null,
        code_mode: 'claim',
        code: null,
        auto_pause: true,
        velocity: null,
        lint: [],
        max_exposure_minor: 100_000,
        budget: { total_minor: 100_000, reserved_minor: 0, spent_minor: 0, available_minor: 100_000 },
        counts: { claimed: 0, redeemed: 0 },
        created_at: '2026-01-01T00:01:00Z',
        updated_at: '2026-01-01T00:01:00Z',
      },
    );
    await assertInvariants(h.store);
  });

  test('fills the documented defaults and reports lint findings', async () => {
    const h = await httpHarness();
    const body = {
      name: 'minimal',
      currency: 'CNY',
      discount: { type: 'percent', percent_bp: 1500 },
      starts_at: '2026-01-01T08:00:00+08:00',
      ends_at: '2026-01-10T00:00:00.250Z',
      budget_minor: 50_000,
    };
    const res = await h.call<CampaignWire>('POST', '/v1/campaigns', { body });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const c = res.body;
    assert.equal(c.min_spend_minor, 0);
    assert.equal(c.merchant_ids, null);
    assert.deepEqual(c.audience, { type: 'public' });
    assert.equal(c.coupon_ttl_s, null);
    assert.equal(c.max_redemptions, null);
    assert.equal(c.per_user_limit, null);
    assert.equal(c.code_mode, 'claim');
    assert.equal(c.code, null);
    assert.equal(c.auto_pause, true);
    assert.equal(c.velocity, null);
    assert.deepEqual(c.discount, { type: 'percent', percent_bp: 1500, max_discount_minor: null });
    assert.equal(c.starts_at, '2026-01-01T00:00:00Z');
    assert.equal(c.ends_at, '2026-01-10T00:00:00.250Z');
    assert.ok(!c.product_kinds.includes('phone_top_up'), 'cash equivalents are opt-in');
    const rules = c.lint.map((f) => `${f.severity}:${f.rule}`);
    assert.ok(rules.includes('warning:no_per_user_limit'));
    assert.ok(rules.includes('warning:public_high_value'));
    assert.equal(c.max_exposure_minor, 50_000);
  });

  test('max_exposure_minor is max_redemptions times the largest discount when that is smaller', async () => {
    const h = await httpHarness();
    const body = campaignBody({
      discount: {
        type: 'tiered',
        tiers: [
          { min_spend_minor: 20_000, amount_minor: 3000 },
          { min_spend_minor: 50_000, amount_minor: 8000 },
        ],
      },
      max_redemptions: 10,
      budget_minor: 1_000_000,
    });
    const res = await h.call<CampaignWire>('POST', '/v1/campaigns', { body });
    assert.equal(res.status, 201);
    assert.equal(res.body.max_exposure_minor, 80_000);
  });

  test('budget_minor is required; cross-field rules answer 400 with param', async () => {
    const h = await httpHarness();
    const { budget_minor: _, ...noBudget } = campaignBody();
    assertError(await h.call('POST', '/v1/campaigns', { body: noBudget }), 400, 'invalid_request', 'budget_minor');
    const sharedNoCode = campaignBody({ code_mode: 'shared_code' });
    assertError(await h.call('POST', '/v1/campaigns', { body: sharedNoCode }), 400, 'invalid_request', 'code');
    const claimWithCode = campaignBody({ code: 'SPRING' });
    assertError(await h.call('POST', '/v1/campaigns', { body: claimWithCode }), 400, 'invalid_request', 'code');
    const badDate = campaignBody({ starts_at: '2026-02-30T00:00:00Z' });
    assertError(await h.call('POST', '/v1/campaigns', { body: badDate }), 400, 'invalid_request', 'starts_at');
    const notRfc = campaignBody({ ends_at: '2026-02-01' });
    assertError(await h.call('POST', '/v1/campaigns', { body: notRfc }), 400, 'invalid_request', 'ends_at');
    const lowerCurrency = campaignBody({ currency: 'cny' });
    assertError(await h.call('POST', '/v1/campaigns', { body: lowerCurrency }), 400, 'invalid_request', 'currency');
    // ISO 4217's shape is not enough: a code no currency in circulation has is refused, saying so.
    for (const currency of ['ABC', 'XXX', 'CNH', 'HRK', 'USN']) {
      const unknown = await h.call('POST', '/v1/campaigns', { body: campaignBody({ currency }) });
      assertError(unknown, 400, 'invalid_request', 'currency');
      assert.match(JSON.stringify(unknown.body), /ISO 4217 code of a currency in circulation/);
    }
    const bp = campaignBody({ discount: { type: 'percent', percent_bp: 10_001, max_discount_minor: 100 } });
    assertError(await h.call('POST', '/v1/campaigns', { body: bp }), 400, 'invalid_request', 'discount.percent_bp');
    const tier = campaignBody({ discount: { type: 'tiered', tiers: [{ min_spend_minor: 1, amount_minor: -1 }] } });
    assertError(
      await h.call('POST', '/v1/campaigns', { body: tier }),
      400,
      'invalid_request',
      'discount.tiers[0].amount_minor',
    );
    const typo = campaignBody({ max_redemption: 5 });
    assertError(await h.call('POST', '/v1/campaigns', { body: typo }), 400, 'invalid_request', 'max_redemption');
    const longName = campaignBody({ name: 'x'.repeat(129) });
    assertError(await h.call('POST', '/v1/campaigns', { body: longName }), 400, 'invalid_request', 'name');
    const zeroLimit = campaignBody({ per_user_limit: 0 });
    assertError(await h.call('POST', '/v1/campaigns', { body: zeroLimit }), 400, 'invalid_request', 'per_user_limit');
    const list = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns');
    assert.equal(list.body.data.length, 0, 'nothing was created');
  });

  test('any currency in circulation is taken, whatever its minor-unit digits', async () => {
    const h = await httpHarness();
    for (const currency of ['JPY', 'XOF', 'KWD', 'USD', 'VED', 'XCG']) {
      const created = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ currency }) });
      assert.equal(created.status, 201, currency);
      assert.equal(created.body.currency, currency);
    }
  });

  test('a discount or audience with an unknown or missing type names its type field', async () => {
    const h = await httpHarness();
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ discount: { type: 'bogus' } }, 'discount.type'],
      [{ discount: { type: 'bogus', amount_minor: 100 } }, 'discount.type'],
      [{ discount: { amount_minor: 100 } }, 'discount.type'],
      [{ discount: {} }, 'discount.type'],
      [{ audience: { type: 'everyone' } }, 'audience.type'],
      // A known type still names the field at fault within its own branch.
      [{ discount: { type: 'fixed' } }, 'discount.amount_minor'],
      [{ discount: { type: 'percent', percent_bp: 1500, amount_minor: 1 } }, 'discount.amount_minor'],
      [{ audience: { type: 'allowlist', user_ids: [] } }, 'audience.user_ids'],
      [{ discount: 5 }, 'discount'],
      [{ discount: null }, 'discount'],
    ];
    for (const [over, param] of cases) {
      const res = await h.call<ErrorWire>('POST', '/v1/campaigns', { body: campaignBody(over) });
      assertError(res, 400, 'invalid_request', param);
      if (param.endsWith('.type')) assert.ok(res.body.error.message.startsWith(`${param}: expected one of '`));
    }
    const bogus = await h.call<ErrorWire>('POST', '/v1/campaigns', { body: campaignBody({ discount: { type: 'x' } }) });
    assert.equal(bogus.body.error.message, "discount.type: expected one of 'fixed', 'percent', 'tiered'");
    const untyped = await h.call<ErrorWire>('POST', '/v1/campaigns', { body: campaignBody({ discount: {} }) });
    assert.equal(untyped.body.error.message, "discount.type: expected one of 'fixed', 'percent', 'tiered'");
    const list = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns');
    assert.equal(list.body.data.length, 0, 'nothing was created');
    await assertInvariants(h.store);
  });

  test('a shared code is stored normalized and must be unique', async () => {
    const h = await httpHarness();
    const res = await h.call<CampaignWire>('POST', '/v1/campaigns', {
      body: campaignBody({ code_mode: 'shared_code', code: 'spring', per_user_limit: 1 }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.body.code, 'SPRING');
    const again = await h.call('POST', '/v1/campaigns', {
      body: campaignBody({ code_mode: 'shared_code', code: 'SPRING' }),
    });
    assertError(again, 400, 'invalid_request', 'code');
  });
});

describe('GET /v1/campaigns', () => {
  test('lists newest first with limit, starting_after and status', async () => {
    const h = await httpHarness();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      h.clock.advance(1000);
      const res = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ name: `c${i}` }) });
      ids.push(res.body.id);
    }
    const first = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns?limit=2', { key: 'read' });
    assert.equal(first.status, 200);
    assert.deepEqual(
      first.body.data.map((c) => c.name),
      ['c4', 'c3'],
    );
    assert.equal(first.body.has_more, true);
    const next = await h.call<ListWire<CampaignWire>>('GET', `/v1/campaigns?limit=2&starting_after=${ids[3]}`, {
      key: 'read',
    });
    assert.deepEqual(
      next.body.data.map((c) => c.name),
      ['c2', 'c1'],
    );
    const all = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns', { key: 'read' });
    assert.equal(all.body.data.length, 5);
    assert.equal(all.body.has_more, false);
    await h.call('POST', `/v1/campaigns/${ids[0]}/submit`);
    const active = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns?status=active', { key: 'read' });
    assert.deepEqual(
      active.body.data.map((c) => c.id),
      [ids[0]],
    );
    assertError(await h.call('GET', '/v1/campaigns?limit=101', { key: 'read' }), 400, 'invalid_request', 'limit');
    assertError(await h.call('GET', '/v1/campaigns?limit=abc', { key: 'read' }), 400, 'invalid_request', 'limit');
    assertError(await h.call('GET', '/v1/campaigns?status=bogus', { key: 'read' }), 400, 'invalid_request', 'status');
  });

  test('limit may be left out: 20 a page, on every list', async () => {
    const h = await httpHarness();
    for (let i = 0; i < 21; i++) await h.call('POST', '/v1/campaigns', { body: campaignBody({ name: `c${i}` }) });
    const page = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns', { key: 'read' });
    assert.deepEqual([page.status, page.body.data.length, page.body.has_more], [200, 20, true]);
    const lists = ['redemptions', 'red-envelopes', 'api-keys', 'alerts', 'incidents', 'audit', 'webhooks'];
    for (const list of lists) {
      const res = await h.call<ListWire<unknown>>('GET', `/v1/${list}`);
      assert.equal(res.status, 200, list);
      assert.ok(res.body.data.length <= 20, list);
    }
    const audit = await h.call<ListWire<unknown>>('GET', '/v1/audit');
    assert.deepEqual([audit.body.data.length, audit.body.has_more], [20, true], 'the audit list takes the default too');
  });

  test('a page of large campaigns ends early at limits.list_page_bytes_max; each campaign whole; the cursor visits all', async () => {
    // A read key asking for 100 campaigns with 60k-user allowlists (~0.6 MB each) gets one page of
    // about 1 MiB, not 100 of them at once.
    const h = await httpHarness();
    const user_ids = Array.from({ length: 60_000 }, (_, i) => `user-${i}`);
    const made: string[] = [];
    for (let i = 0; i < 4; i++) {
      h.clock.advance(1000);
      const body = campaignBody({ name: `vip${i}`, audience: { type: 'allowlist', user_ids } });
      const res = await h.call<CampaignWire>('POST', '/v1/campaigns', { body });
      assert.equal(res.status, 201);
      made.unshift(res.body.id);
    }
    const seen: string[] = [];
    let after = '';
    for (;;) {
      const url = `/v1/campaigns?limit=100${after && `&starting_after=${after}`}`;
      const page = await h.call<ListWire<CampaignWire>>('GET', url, { key: 'read' });
      assert.equal(page.status, 200);
      const bytes = Buffer.byteLength(JSON.stringify(page.body.data), 'utf8');
      assert.ok(page.body.data.length === 1 || bytes <= limits.list_page_bytes_max, `${bytes} bytes`);
      assert.ok(page.body.data.length < 4, 'one page of every campaign is over the cap');
      for (const c of page.body.data) {
        assert.deepEqual(c, (await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`, { key: 'read' })).body);
        assert.equal(c.audience.type === 'allowlist' && c.audience.user_ids.length, 60_000);
      }
      seen.push(...page.body.data.map((c) => c.id));
      const last = page.body.data.at(-1);
      if (!page.body.has_more || last === undefined) break;
      after = last.id;
    }
    assert.deepEqual(seen, made);
  });

  test('GET one; unknown id is 404 not_found', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const res = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`, { key: 'read' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, c);
    assertError(await h.call('GET', '/v1/campaigns/cmp_nope', { key: 'read' }), 404, 'not_found');
  });
});

describe('timestamps outside years 0000-9999', () => {
  test('an instant outside years 0000-9999 (UTC) is 400 naming the field, in every body that takes one', async () => {
    const h = await httpHarness();
    // Year 9999 locally, year 10000 in UTC: it would come back as "+010000-01-01T09:59:59Z".
    const past = '9999-12-31T23:59:59-10:00';
    const last = '9999-12-31T23:59:59.999Z';
    const beforeYear0 = '0000-01-01T00:00:00+00:01';
    for (const [field, text] of [
      ['starts_at', past],
      ['ends_at', past],
      ['starts_at', beforeYear0],
    ] as const) {
      const res = await h.call('POST', '/v1/campaigns', { body: campaignBody({ [field]: text }) });
      assertError(res, 400, 'invalid_request', field);
    }
    const c = await activeCampaign(h);
    const before = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`);
    assertError(
      await h.call('POST', `/v1/campaigns/${c.id}`, { body: { ends_at: past } }),
      400,
      'invalid_request',
      'ends_at',
    );
    for (const field of ['from', 'to']) {
      const scope = { campaign_ids: [c.id], [field]: past };
      const body = { title: 't', scope, actions: ['pause_campaigns'] };
      assertError(await h.call('POST', '/v1/incidents', { body }), 400, 'invalid_request', `scope.${field}`);
    }
    const envelope = { currency: 'CNY', total_minor: 1000, count: 10, expires_at: past };
    assertError(await h.call('POST', '/v1/red-envelopes', { body: envelope }), 400, 'invalid_request', 'expires_at');
    const after = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`);
    assert.deepEqual(after.body, before.body, 'nothing changed');
    const list = await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns');
    assert.equal(list.body.data.length, 1, 'nothing was created');
    // The last representable instant is still a date-time (only the range past it is refused).
    const ok = await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody({ ends_at: last }) });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal(ok.body.ends_at, last);
    await assertInvariants(h.store);
  });
});
