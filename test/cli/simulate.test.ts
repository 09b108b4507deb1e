import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runPinduoduo } from '../../src/cli/simulate/pinduoduo.ts';

test('the 2019 replay: guarded loss at most 1% of naive, detected within 1,000, invariants hold', async () => {
  const o = { attack_redemptions: 6000, attack_per_s: 300, one_shop_share: 0.86 };
  const naive = await runPinduoduo('naive', o);
  const guarded = await runPinduoduo('guarded', o);
  const as2019 = await runPinduoduo('as_2019', o);
  assert.equal(naive.redemptions, 6000);
  assert.equal(naive.loss_minor, 6000 * 10_000);
  assert.ok(guarded.detected_after_redemptions !== null && guarded.detected_after_redemptions <= 1000);
  assert.ok(guarded.loss_minor <= naive.loss_minor / 100, `guarded loss ${guarded.loss_minor}`);
  assert.equal(guarded.frozen_minor, guarded.reversed_minor);
  assert.equal(as2019.redemptions, 0, 'the expired guests-only coupon never redeems');
  assert.ok((as2019.refused.campaign_ended ?? 0) >= 6000);
  for (const r of [naive, guarded, as2019]) assert.equal(r.invariants_ok, true);
});
