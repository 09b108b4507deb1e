import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RedEnvelopeWire } from '../../src/http/red-envelope-view.ts';
import type { CampaignWire, RedemptionWire } from '../../src/http/views.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  campaignBody,
  day_ms,
  type HttpHarness,
  httpHarness,
  iso,
  type ListWire,
  orderBody,
} from './harness.ts';

type ExposureWire = { by_product_kind: { product_kind: string; count: number }[] };
type ValidationWire = { valid: boolean; reason: { code: string } | null };

function envelopeBody(h: HttpHarness, product_kinds: string[]): Record<string, unknown> {
  return {
    currency: 'CNY',
    total_minor: 10_000,
    count: 10,
    expires_at: iso(h.clock.now() + day_ms),
    coupon: { min_spend_minor: 0, product_kinds },
  };
}

/** A campaign for merchandise and `kind`, created with the cash-equivalent warning and held for approval at submit. */
async function warnedAndHeld(h: HttpHarness, kind: string): Promise<CampaignWire> {
  const created = await h.call<CampaignWire>('POST', '/v1/campaigns', {
    body: campaignBody({ product_kinds: ['merchandise', kind] }),
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.ok(
    created.body.lint.some((f) => f.rule === 'cash_equivalent_eligible'),
    `${kind} stored as ${created.body.product_kinds.join(', ')}`,
  );
  const submitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/submit`);
  assert.equal(submitted.body.status, 'pending_approval', kind);
  return submitted.body;
}

async function campaignList(h: HttpHarness): Promise<CampaignWire[]> {
  return (await h.call<ListWire<CampaignWire>>('GET', '/v1/campaigns', { key: 'read' })).body.data;
}

describe('product kinds however they are written', () => {
  test('a campaign listing GIFT-CARD and Mobile Top Up stores them canonically, is warned and needs approval', async () => {
    const h = await httpHarness();
    const body = campaignBody({ product_kinds: [' Merchandise', 'GIFT-CARD', 'Mobile Top Up'] });
    const dry = await h.call<{ lint: { rule: string }[]; on_submit: string }>('POST', '/v1/campaigns/lint', { body });
    assert.deepEqual(
      dry.body.lint.map((f) => f.rule),
      ['cash_equivalent_eligible'],
    );
    assert.equal(dry.body.on_submit, 'pending_approval');
    const created = await h.call<CampaignWire>('POST', '/v1/campaigns', { body });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.product_kinds, ['merchandise', 'gift_card', 'mobile_top_up']);
    const warning = created.body.lint.find((f) => f.rule === 'cash_equivalent_eligible');
    assert.equal(warning?.severity, 'warning');
    assert.match(warning?.message ?? '', /gift_card, mobile_top_up/);
    const submitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/submit`);
    assert.equal(submitted.body.status, 'pending_approval', 'a warning holds it for a second key');
    assertError(await h.call('POST', `/v1/campaigns/${created.body.id}/approve`), 403, 'approval_self_forbidden');
    const approved = await h.call<CampaignWire>('POST', `/v1/campaigns/${created.body.id}/approve`, {
      key: 'approver',
    });
    assert.equal(approved.body.status, 'active');
  });

  test('prepaid cards, e-gifts and top-ups spelled apart or with a slash are warned too, and wait for approval', async () => {
    const h = await httpHarness();
    for (const kind of ['Pre-Paid Card', 'E-Gift', 'Top-Up/Recharge', '话费充值']) await warnedAndHeld(h, kind);
  });

  test('top-ups and gift cards spelled with look-alike Cyrillic or Greek letters are warned and wait for approval', async () => {
    const h = await httpHarness();
    // phone_tоp_up with a Cyrillic о, gift_cаrd with a Cyrillic а, st ο re_credit with a Greek ο.
    for (const kind of ['phone_t\u043ep_up', 'gift_c\u0430rd', 'st\u03bfre_credit']) {
      const created = await warnedAndHeld(h, kind);
      // Not live until a second key approves: an order of that kind is not discounted.
      const claimed = await h.call<{ code: string }>('POST', '/v1/claims', {
        key: 'checkout',
        body: { campaign_id: created.id, user_id: 'u1' },
      });
      assertError(claimed, 422, 'campaign_not_active');
    }
  });

  test('a change of product kinds is stored canonically too', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const changed = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}`, {
      body: { product_kinds: ['MERCHANDISE', 'Gift Card'] },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual(changed.body.product_kinds, ['merchandise', 'gift_card']);
    assert.equal(changed.body.status, 'pending_approval');
    assert.equal(changed.body.status_reason, 'changed: product_kinds');
    assert.ok(changed.body.lint.some((f) => f.rule === 'cash_equivalent_eligible'));
  });

  test('an order of Merchandise matches a merchandise campaign, and is recorded as merchandise', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'KINDS', per_user_limit: 5 });
    const order = (product_kind: string) => orderBody({ product_kind });
    const validation = await h.call<ValidationWire>('POST', '/v1/validations', {
      key: 'checkout',
      body: { user_id: 'u1', code: 'KINDS', order: order('Merchandise') },
    });
    assert.deepEqual(validation.body, { valid: true, discount_minor: 1000, reason: null });
    const made: RedemptionWire[] = [];
    for (const kind of ['Merchandise', ' MERCHANDISE ', 'merchandise']) {
      const res = await h.call<RedemptionWire>('POST', '/v1/redemptions', {
        key: 'checkout',
        body: { user_id: 'u1', code: 'KINDS', order: order(kind) },
      });
      assert.equal(res.status, 201, `${kind}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.order.product_kind, 'merchandise');
      made.push(res.body);
    }
    const exposure = await h.call<ExposureWire>('GET', `/v1/campaigns/${c.id}/exposure`, { key: 'read' });
    assert.deepEqual(
      exposure.body.by_product_kind.map((g) => [g.product_kind, g.count]),
      [['merchandise', 3]],
    );
    const other = await h.call<ValidationWire>('POST', '/v1/validations', {
      key: 'checkout',
      body: { user_id: 'u1', code: 'KINDS', order: order('Virtual') },
    });
    assert.equal(other.body.reason?.code, 'product_kind_not_eligible');
    await assertInvariants(h.store);
  });

  test('two entries that are one kind, or an entry that is no kind, are 400 and change nothing', async () => {
    const h = await httpHarness();
    for (const [kinds, param] of [
      [['gift_card', 'GIFT-CARD'], 'product_kinds'],
      [['merchandise', 'Gift Card', 'gift.card'], 'product_kinds'],
      [['merchandise', ' - '], 'product_kinds[1]'],
      [['\u200b'], 'product_kinds[0]'],
      [['merchandise', '\ufdfa'.repeat(8)], 'product_kinds[1]'], // 8 characters, 144 under NFKC
    ] as const) {
      assertError(
        await h.call('POST', '/v1/campaigns', { body: campaignBody({ product_kinds: kinds }) }),
        400,
        'invalid_request',
        param,
      );
      assertError(
        await h.call('POST', '/v1/campaigns/lint', { body: campaignBody({ product_kinds: kinds }) }),
        400,
        'invalid_request',
        param,
      );
      assertError(
        await h.call('POST', '/v1/red-envelopes', { body: envelopeBody(h, [...kinds]) }),
        400,
        'invalid_request',
        `coupon.${param}`,
      );
    }
    assert.deepEqual(await campaignList(h), []);
    const envelopes = await h.call<ListWire<RedEnvelopeWire>>('GET', '/v1/red-envelopes', { key: 'read' });
    assert.deepEqual(envelopes.body.data, []);

    const c = await activeCampaign(h);
    const before = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`, { key: 'read' });
    const dup = await h.call('POST', `/v1/campaigns/${c.id}`, {
      body: { product_kinds: ['merchandise', 'Merchandise'], budget_minor: 200_000 },
    });
    assertError(dup, 400, 'invalid_request', 'product_kinds');
    assert.match((dup.body as { error: { message: string } }).error.message, /product_kinds\[0\].*product_kinds\[1\]/);
    const after = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`, { key: 'read' });
    assert.deepEqual(after.body, before.body);

    for (const path of ['/v1/validations', '/v1/redemptions']) {
      const res = await h.call('POST', path, {
        key: 'checkout',
        body: { user_id: 'u1', coupon_id: 'cpn_x', order: orderBody({ product_kind: '--' }) },
      });
      assertError(res, 400, 'invalid_request', 'order.product_kind');
    }
    const redemptions = await h.call<ListWire<RedemptionWire>>('GET', '/v1/redemptions', { key: 'read' });
    assert.deepEqual(redemptions.body.data, []);
  });

  test('a red envelope stores its coupon kinds canonically, and its campaign is warned of cash equivalents', async () => {
    const h = await httpHarness();
    const res = await h.call<RedEnvelopeWire>('POST', '/v1/red-envelopes', {
      body: envelopeBody(h, ['Merchandise', 'Gift Card']),
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body.coupon.product_kinds, ['merchandise', 'gift_card']);
    const campaign = await h.call<CampaignWire>('GET', `/v1/campaigns/${res.body.campaign_id}`, { key: 'read' });
    assert.deepEqual(campaign.body.product_kinds, ['merchandise', 'gift_card']);
    assert.ok(campaign.body.lint.some((f) => f.rule === 'cash_equivalent_eligible'));
  });
});
