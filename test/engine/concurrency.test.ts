import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';

async function settle<T>(ps: Promise<T>[]) {
  const rs = await Promise.allSettled(ps);
  const ok = rs.filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === 'fulfilled').map((r) => r.value);
  const codes = new Map<string, number>();
  for (const r of rs) {
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof Rejection, `unexpected error ${String(r.reason)}`);
      codes.set(r.reason.code, (codes.get(r.reason.code) ?? 0) + 1);
    }
  }
  return { ok, codes };
}

describe('group commit under concurrency', () => {
  test('5,000 concurrent redemptions of varied amounts never spend one minor unit over budget', async () => {
    const h = await harness({ batch_commands_max: 256 });
    const budget_minor = 1_234_567;
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'STAMPEDE',
      discount: { type: 'percent', percent_bp: 1500, max_discount_minor: 5000 },
      budget_minor,
      max_redemptions: null,
      per_user_limit: null,
      min_spend_minor: 100,
    });
    const amounts = Array.from({ length: 5000 }, (_, i) => 100 + ((i * 7919) % 40_000));
    const { ok, codes } = await settle(
      amounts.map((amount_minor, i) =>
        h.engine.redeem(
          { user_id: `u${i}`, code: 'STAMPEDE', order: order({ id: `o${i}`, amount_minor }), confirm: i % 2 === 0 },
          { actor: 'k' },
        ),
      ),
    );
    const granted = ok.reduce((a, r) => a + r.discount_minor, 0);
    const now = await h.engine.getCampaign(c.id);
    assert.ok(granted <= budget_minor);
    assert.equal(now.reserved_minor + now.spent_minor, granted);
    assert.equal(ok.length + (codes.get('budget_exhausted') ?? 0), 5000);
    assert.ok((codes.get('budget_exhausted') ?? 0) > 0, 'the budget must run out in this test');
    await assertInvariants(h.store);
  });

  test('confirms, releases and new reservations racing on one campaign keep conservation', async () => {
    const h = await harness({ batch_commands_max: 64 });
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'RACE',
      budget_minor: 500_000,
      max_redemptions: 300,
      per_user_limit: 3,
    });
    const first = await settle(
      Array.from({ length: 400 }, (_, i) =>
        h.engine.redeem({ user_id: `u${i % 150}`, code: 'RACE', order: order({ id: `o${i}` }) }, { actor: 'k' }),
      ),
    );
    assert.equal(first.ok.length, 300);
    assert.equal(first.codes.get('usage_limit_reached'), 100);
    const settles: Promise<Redemption>[] = [];
    const fresh: Promise<Redemption>[] = [];
    first.ok.forEach((r, i) => {
      settles.push(i % 3 === 0 ? h.engine.release(r.id, { actor: 'k' }) : h.engine.confirm(r.id, { actor: 'k' }));
      fresh.push(h.engine.redeem({ user_id: `v${i}`, code: 'RACE', order: order({ id: `n${i}` }) }, { actor: 'k' }));
    });
    const [settled, added] = await Promise.all([settle(settles), settle(fresh)]);
    const released = settled.ok.filter((r) => r.status === 'released').length;
    assert.equal(released, 100);
    assert.equal(settled.ok.length, 300);
    const now = await h.engine.getCampaign(c.id);
    // Whatever the interleaving, live redemptions are the first wave minus releases plus new ones, never over 300.
    assert.equal(now.reserved_count + now.confirmed_count, 300 - released + added.ok.length);
    assert.ok(now.reserved_count + now.confirmed_count <= 300);
    assert.equal(added.ok.length + (added.codes.get('usage_limit_reached') ?? 0), 300);
    await assertInvariants(h.store);
  });

  test('100 concurrent redemptions of one single-use coupon: exactly one', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, { actor: 'k' });
    const { ok, codes } = await settle(
      Array.from({ length: 100 }, (_, i) =>
        h.engine.redeem({ user_id: 'u1', code: coupon.code, order: order({ id: `o${i}` }) }, { actor: 'k' }),
      ),
    );
    assert.equal(ok.length, 1);
    assert.equal(codes.get('coupon_already_redeemed'), 99);
    await assertInvariants(h.store);
  });
});
