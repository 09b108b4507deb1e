import { describe, test } from 'node:test';
import { httpHarness } from '../http/harness.ts';
import { assertStoreClean, runSequence } from './property.ts';
import type { CampaignConfig, OrderGen, Step } from './steps.ts';

/**
 * Counterexamples the model-based test shrank to, and edge sequences written by hand, replayed
 * through the same driver: each runs on the HTTP API and on the reference model and compares
 * every answer and the final state.
 */
const base: CampaignConfig = {
  mode: 'claim',
  discount: { type: 'fixed', amount_minor: 1000 },
  min_spend_minor: 3000,
  product_kinds: ['merchandise'],
  merchant_ids: null,
  allowlist: null,
  start_offset_ms: -60_000,
  duration_ms: 8 * 3_600_000,
  coupon_ttl_s: null,
  budget_minor: 20_000,
  max_redemptions: null,
  per_user_limit: null,
  per_merchant_limit: null,
  per_user_per_minute: null,
  unique_codes: 2,
  envelope: { count: 3, min_amount_minor: 1, coupon_ttl_s: 600 },
};

const order = (over: Partial<OrderGen> = {}): OrderGen => ({
  n: 0,
  merchant: 0,
  amount_minor: 5000,
  kind: 0,
  usd: false,
  ...over,
});
const redeem = (coupon: number, over: Partial<Extract<Step, { t: 'redeem' }>> = {}): Step => ({
  t: 'redeem',
  user: 0,
  owner: true,
  coupon,
  by_id: false,
  order: order(),
  confirm: false,
  idem: null,
  ...over,
});

async function replay(cfg: Partial<CampaignConfig>, steps: Step[]): Promise<void> {
  const h = await httpHarness();
  await runSequence(h, { ...base, ...cfg }, steps, 0);
  await assertStoreClean(h);
  await h.app.close();
}

describe('model regressions (shrunk counterexamples)', () => {
  test('an Idempotency-Key is namespaced by API key: the admin key and the checkout key never collide', async () => {
    await replay(
      { discount: { type: 'tiered', tiers: [{ min_spend_minor: 1000, amount_minor: 100 }] }, min_spend_minor: 0 },
      [
        { t: 'resume', idem: 0 },
        { t: 'claim', user: 0, idem: null },
        { t: 'validate', user: 0, owner: true, coupon: 0, by_id: false, order: order({ amount_minor: 0 }), idem: 0 },
      ],
    );
  });

  test('a second grab by the same user is 409 already_grabbed (API.md), not 422', async () => {
    await replay(
      {
        mode: 'red_envelope',
        min_spend_minor: 0,
        budget_minor: 500,
        envelope: { count: 1, min_amount_minor: 1, coupon_ttl_s: 600 },
      },
      [
        { t: 'grab', user: 1, idem: null },
        { t: 'grab', user: 1, idem: null },
      ],
    );
  });
});

describe('model regressions (edges written by hand)', () => {
  test('a hold past its expiry cannot be confirmed before the sweep, can be released, and the sweep leaves it alone', async () => {
    await replay({}, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      redeem(0),
      redeem(1, { user: 1 }),
      { t: 'advance', ms: 15 * 60_000 },
      { t: 'confirm', r: 0, idem: null },
      { t: 'release', r: 1, idem: null },
      { t: 'sweep' },
      { t: 'confirm', r: 0, idem: null },
      redeem(0, { order: order({ n: 1 }) }),
    ]);
  });

  test('revoke releases every hold, revokes unredeemed coupons; confirmed ones can still be reversed', async () => {
    await replay({ per_user_limit: 2 }, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      redeem(0, { confirm: true }),
      redeem(1, { order: order({ n: 1 }) }),
      { t: 'revoke', idem: 1 },
      { t: 'retry', back: 0 },
      { t: 'reverse', r: 0, restore: true, idem: null },
      { t: 'confirm', r: 1, idem: null },
      redeem(2, { user: 1 }),
      { t: 'resume', idem: null },
    ]);
  });

  test('five wrong codes lock a user out, even with a right one, until the window turns; replays still answer', async () => {
    const nope = redeem(-1);
    await replay({}, [
      { t: 'claim', user: 0, idem: null },
      redeem(0, { idem: 2 }),
      nope,
      nope,
      { t: 'validate', user: 0, owner: true, coupon: -1, by_id: false, order: order(), idem: null },
      nope,
      nope,
      { t: 'release', r: 0, idem: null },
      redeem(0, { order: order({ n: 3 }) }),
      { t: 'retry', back: 0 },
      { t: 'advance', ms: 15 * 60_000 },
      redeem(0, { order: order({ n: 4 }) }),
    ]);
  });

  test('velocity: a redemption the campaign refuses gives its place in the minute back', async () => {
    await replay({ mode: 'shared_code', per_user_per_minute: 1 }, [
      redeem(0, { order: order({ amount_minor: 100 }) }),
      redeem(0, { order: order({ n: 1 }) }),
      redeem(0, { order: order({ n: 2 }) }),
      { t: 'advance', ms: 60_000 },
      redeem(0, { order: order({ n: 3 }) }),
    ]);
  });

  test('an incident at one merchant freezes confirmations and releases holds; honour confirms what is still frozen', async () => {
    await replay({ mode: 'unique_codes', unique_codes: 4 }, [
      redeem(0, { confirm: true }),
      redeem(1, { order: order({ n: 1 }) }),
      redeem(2, { order: order({ n: 2, merchant: 1 }) }),
      { t: 'incident', merchants: [0], actions: 3, idem: null },
      { t: 'confirm', r: 1, idem: null },
      { t: 'reverse', r: 0, restore: false, idem: null },
      { t: 'resume', idem: null },
      { t: 'resolve', i: 0, reverse: false, idem: 3 },
      { t: 'resolve', i: 0, reverse: true, idem: null },
      { t: 'retry', back: 0 },
      { t: 'incident', merchants: null, actions: 4, idem: null },
    ]);
  });

  test('an incident that revokes without freezing revokes coupons on hold: released or expired, they never redeem again', async () => {
    await replay({}, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      { t: 'claim', user: 2, idem: null },
      redeem(0),
      redeem(1, { user: 1, order: order({ n: 1 }) }),
      { t: 'incident', merchants: null, actions: 5, idem: null },
      { t: 'release', r: 0, idem: null },
      { t: 'advance', ms: 15 * 60_000 },
      { t: 'sweep' },
      { t: 'resume', idem: null },
      redeem(0, { order: order({ n: 2 }), confirm: true }),
      redeem(1, { user: 1, order: order({ n: 3 }), confirm: true }),
      redeem(2, { user: 2, order: order({ n: 4 }), confirm: true }),
    ]);
  });

  test('a hold whose coupon an incident revoked still confirms, or is released by a freeze; its coupon stays revoked', async () => {
    await replay({}, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      redeem(0),
      redeem(1, { user: 1, order: order({ n: 1, merchant: 1 }) }),
      { t: 'incident', merchants: null, actions: 4, idem: null },
      { t: 'confirm', r: 0, idem: null },
      { t: 'incident', merchants: [1], actions: 2, idem: null },
      { t: 'resolve', i: 1, reverse: false, idem: null },
      { t: 'reverse', r: 0, restore: true, idem: null },
      { t: 'reverse', r: 1, restore: true, idem: null },
      redeem(0, { order: order({ n: 2 }), confirm: true }),
      redeem(1, { user: 1, order: order({ n: 3 }), confirm: true }),
    ]);
  });

  test('a freeze releases the holds in scope: their confirm is invalid_state, the money and (revoked) coupon are back', async () => {
    await replay({ per_user_limit: 1, max_redemptions: 3 }, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      { t: 'claim', user: 2, idem: null },
      redeem(0, { confirm: true }),
      redeem(1, { user: 1, order: order({ n: 1 }) }),
      redeem(2, { user: 2, order: order({ n: 2 }) }),
      { t: 'incident', merchants: null, actions: 6, idem: null },
      { t: 'confirm', r: 1, idem: null },
      { t: 'release', r: 2, idem: null },
      { t: 'reverse', r: 1, restore: true, idem: null },
      redeem(1, { user: 1, order: order({ n: 3 }), confirm: true }),
      { t: 'resolve', i: 0, reverse: true, idem: null },
      { t: 'confirm', r: 2, idem: null },
    ]);
  });

  test('a freeze without revoke releases a hold: its coupon redeems anew; honour confirms the frozen one only', async () => {
    await replay({ per_user_limit: 1, max_redemptions: 2 }, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      redeem(0, { confirm: true }),
      redeem(1, { user: 1, order: order({ n: 1 }) }),
      { t: 'incident', merchants: null, actions: 2, idem: 0 },
      { t: 'retry', back: 0 },
      { t: 'confirm', r: 1, idem: null },
      redeem(1, { user: 1, order: order({ n: 2 }), confirm: true }),
      { t: 'resolve', i: 0, reverse: false, idem: null },
      { t: 'reverse', r: 2, restore: true, idem: null },
    ]);
  });

  test('after an incident revoked, restore_coupon revokes a coupon that existed then (none was unredeemed); a later one is restored', async () => {
    await replay({}, [
      { t: 'claim', user: 0, idem: null },
      { t: 'claim', user: 1, idem: null },
      redeem(0, { confirm: true }),
      redeem(1, { user: 1, order: order({ n: 1, merchant: 1 }), confirm: true }),
      { t: 'incident', merchants: [1], actions: 7, idem: null },
      { t: 'resume', idem: null },
      { t: 'reverse', r: 0, restore: true, idem: null },
      { t: 'reverse', r: 1, restore: true, idem: null },
      redeem(0, { order: order({ n: 2 }), confirm: true }),
      redeem(1, { user: 1, order: order({ n: 3 }), confirm: true }),
      { t: 'claim', user: 2, idem: null },
      redeem(2, { user: 2, order: order({ n: 4 }), confirm: true }),
      { t: 'reverse', r: 2, restore: true, idem: null },
      redeem(2, { user: 2, order: order({ n: 5 }), confirm: true }),
      { t: 'resolve', i: 0, reverse: true, idem: null },
    ]);
  });

  test('a red envelope: grabs, a grabbed coupon redeemed, expiry refunds the remainder once', async () => {
    await replay({ mode: 'red_envelope', min_spend_minor: 0, budget_minor: 3000, duration_ms: 3_600_000 }, [
      { t: 'grab', user: 0, idem: null },
      { t: 'grab', user: 1, idem: 0 },
      { t: 'retry', back: 0 },
      redeem(0, { confirm: true }),
      { t: 'advance', ms: 3_600_000 },
      { t: 'grab', user: 2, idem: null },
      { t: 'sweep' },
      { t: 'sweep' },
      redeem(1, { user: 1 }),
    ]);
  });
});
