import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertError, campaignBody, type HttpHarness, httpHarness, type ListWire } from './harness.ts';

type LintWire = {
  lint: { rule: string; severity: string }[];
  max_exposure_minor: number;
  approval_threshold_minor: number;
  on_submit: string;
};

describe('POST /v1/campaigns/lint (dry run)', () => {
  let h: HttpHarness;
  before(async () => {
    h = await httpHarness();
  });
  after(() => h.app.close());

  test('a clean campaign: no findings, its worst case, and it would go live', async () => {
    const res = await h.call<LintWire>('POST', '/v1/campaigns/lint', { body: campaignBody() });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.lint, []);
    assert.equal(res.body.max_exposure_minor, 100 * 1000, 'max_redemptions x discount is below the budget');
    assert.equal(res.body.approval_threshold_minor, 1_000_000);
    assert.equal(res.body.on_submit, 'active');
  });

  test('warnings or an exposure above the threshold would need approval; errors would block', async () => {
    const warned = await h.call<LintWire>('POST', '/v1/campaigns/lint', {
      body: campaignBody({ per_user_limit: null }),
    });
    assert.deepEqual(
      warned.body.lint.map((f) => f.rule),
      ['no_per_user_limit'],
    );
    assert.equal(warned.body.on_submit, 'pending_approval');
    const large = await h.call<LintWire>('POST', '/v1/campaigns/lint', {
      body: campaignBody({ budget_minor: 2_000_000, max_redemptions: null }),
    });
    assert.equal(large.body.max_exposure_minor, 2_000_000);
    assert.equal(large.body.on_submit, 'pending_approval');
    const broken = await h.call<LintWire>('POST', '/v1/campaigns/lint', { body: campaignBody({ budget_minor: 10 }) });
    assert.ok(broken.body.lint.some((f) => f.rule === 'budget_below_one_discount' && f.severity === 'error'));
    assert.equal(broken.body.on_submit, 'campaign_lint_failed');
  });

  test('bad input is the same 400 as creating, and nothing is ever stored', async () => {
    const bad = await h.call('POST', '/v1/campaigns/lint', { body: campaignBody({ budget_minor: 1.5 }) });
    assertError(bad, 400, 'invalid_request', 'budget_minor');
    const list = await h.call<ListWire<unknown>>('GET', '/v1/campaigns');
    assert.deepEqual(list.body.data, []);
  });

  test('an Idempotency-Key replays the first answer and refuses another body', async () => {
    const hour_ms = 3_600_000;
    // A campaign that ends in an hour: once it has, a fresh lint blocks it.
    const body = campaignBody({ ends_at: new Date(h.clock.now() + hour_ms).toISOString() });
    const first = await h.call<LintWire>('POST', '/v1/campaigns/lint', { body, idem: 'lint-1' });
    assert.equal(first.status, 200);
    assert.equal(first.body.on_submit, 'active');
    h.clock.advance(2 * hour_ms);
    try {
      const fresh = await h.call<LintWire>('POST', '/v1/campaigns/lint', { body });
      assert.equal(fresh.body.on_submit, 'campaign_lint_failed');
      const again = await h.call<LintWire>('POST', '/v1/campaigns/lint', { body, idem: 'lint-1' });
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, first.body, 'the keyed retry gets the first answer');
      const other = await h.call('POST', '/v1/campaigns/lint', { body: { ...body, name: 'other' }, idem: 'lint-1' });
      assertError(other, 409, 'idempotency_key_reused', 'Idempotency-Key');
    } finally {
      h.clock.advance(-2 * hour_ms);
    }
  });

  test('admin only, like creating a campaign', async () => {
    assertError(await h.call('POST', '/v1/campaigns/lint', { key: 'read', body: campaignBody() }), 403, 'forbidden');
    assertError(
      await h.call('POST', '/v1/campaigns/lint', { key: null, body: campaignBody() }),
      401,
      'unauthenticated',
    );
  });
});
