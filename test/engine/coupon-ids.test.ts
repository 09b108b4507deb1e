import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import { attemptLockout } from '../../src/domain/velocity.ts';
import type { RedeemInput } from '../../src/engine/engine.ts';
import {
  activeCampaign,
  assertInvariants,
  day_ms,
  type Harness,
  harness,
  order,
  rejects,
} from '../support/fixtures.ts';

const who = { actor: 'key_checkout' };
let seq = 0;

function input(named: { code: string } | { coupon_id: string }, user_id = 'u1'): RedeemInput {
  seq += 1;
  return { user_id, ...named, order: order({ id: `o${seq}` }), device_id: null, ip: `198.51.100.${seq % 250}` };
}

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string; param: string | undefined }> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Rejection, String(e));
    return { code: e.code, message: e.message, param: e.param };
  }
  return assert.fail('expected a refusal');
}

/** A unique_codes campaign, its codes, and the server ids of their coupons (what a leak would expose). */
async function uniqueCoupons(h: Harness, count: number) {
  const c = await activeCampaign(h, { code_mode: 'unique_codes', per_user_limit: 100, max_redemptions: null });
  const { codes } = await h.engine.generateCodes(c.id, count, who);
  const ids: string[] = [];
  for (const code of codes) {
    const coupon = await h.store.findCouponByCode(code);
    assert.ok(coupon && coupon.kind === 'unique');
    ids.push(coupon.id);
  }
  return { c, codes, ids };
}

/** What a refused request must leave as it was: the campaign row (budget, counts) and its audit chain. */
async function stateOf(h: Harness, id: string) {
  return { campaign: await h.store.getCampaign(id), audit_entries: (await h.store.auditChain(id)).length };
}

describe('coupon ids never stand in for a unique (bearer) code', () => {
  test('a unique coupon by id is refused as an unknown id, by redemption and validation; by code it redeems', async () => {
    const h = await harness();
    const { c, codes, ids } = await uniqueCoupons(h, 3);
    const [a_code, b_code] = codes;
    const [a_id, b_id] = ids;
    assert.ok(a_code && b_code && a_id && b_id);
    // The coupon id leaks with every redemption (answers, lists, events); the code does not.
    const first = await h.engine.redeem(input({ code: a_code }), who);
    assert.equal(first.coupon_id, a_id);
    await h.engine.release(first.id, who);
    const before = await stateOf(h, c.id);
    const unknown = await refusal(h.engine.redeem(input({ coupon_id: 'cpn_nope' }, 'x0'), who));
    assert.deepEqual(unknown, { code: 'coupon_not_found', message: 'no such coupon', param: 'coupon_id' });
    for (const [n, id] of [a_id, b_id].entries()) {
      assert.deepEqual(await refusal(h.engine.redeem(input({ coupon_id: id }, `x${n}`), who)), unknown);
      const confirmed = { ...input({ coupon_id: id }, `y${n}`), confirm: true };
      assert.deepEqual(await refusal(h.engine.redeem(confirmed, who)), unknown);
      const dry = await h.engine.validate(input({ coupon_id: id }, `z${n}`));
      assert.deepEqual(dry, {
        valid: false,
        discount_minor: 0,
        reason: { code: 'coupon_not_found', message: unknown.message },
      });
    }
    assert.deepEqual(await stateOf(h, c.id), before, 'a refused id changes nothing');
    for (const id of [a_id, b_id]) assert.equal((await h.engine.getCoupon(id)).status, 'active');
    assert.deepEqual(await h.engine.validate(input({ code: b_code })), {
      valid: true,
      discount_minor: 1000,
      reason: null,
    });
    const byCode = await h.engine.redeem({ ...input({ code: b_code }), confirm: true }, who);
    assert.equal(byCode.status, 'confirmed');
    assert.equal(byCode.coupon_id, b_id);
    await assertInvariants(h.store);
  });

  test('walking unique coupon ids counts as failed lookups and locks the walker out', async () => {
    const h = await harness();
    const { codes, ids } = await uniqueCoupons(h, attemptLockout.failures_max + 1);
    for (const id of ids.slice(0, attemptLockout.failures_max)) {
      await rejects(
        h.engine.redeem({ ...input({ coupon_id: id }, 'walker'), device_id: 'dev-w' }, who),
        'coupon_not_found',
      );
    }
    const right = { ...input({ code: codes[0] ?? '' }, 'walker'), device_id: 'dev-w' };
    await rejects(h.engine.redeem(right, who), 'too_many_attempts');
    assert.equal((await h.engine.redeem(input({ code: codes[0] ?? '' }, 'someone-else'), who)).status, 'reserved');
  });

  test('claimed coupons still redeem by id, for their owner only', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    await rejects(h.engine.redeem(input({ coupon_id: coupon.id }, 'u2'), who), 'coupon_not_eligible_user');
    const dry = await h.engine.validate(input({ coupon_id: coupon.id }, 'u2'));
    assert.equal(dry.reason?.code, 'coupon_not_eligible_user');
    const r = await h.engine.redeem(input({ coupon_id: coupon.id }, 'u1'), who);
    assert.equal(r.status, 'reserved');
    assert.equal(r.coupon_id, coupon.id);
    await assertInvariants(h.store);
  });

  test('red-envelope coupons still redeem by id, for their grabber only', async () => {
    const h = await harness();
    const coupon = { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 7 * 24 * 3600 };
    const env = { currency: 'CNY', total_minor: 2_000, count: 2, min_amount_minor: 1_000, coupon };
    const c = await h.engine.envelopes.create({ ...env, expires_at_ms: h.clock.now() + day_ms }, who);
    const env_id = c.red_envelope?.id ?? '';
    const a = await h.engine.envelopes.grab(env_id, 'a', who);
    await rejects(h.engine.redeem(input({ coupon_id: a.coupon.id }, 'b'), who), 'coupon_not_eligible_user');
    const r = await h.engine.redeem({ ...input({ coupon_id: a.coupon.id }, 'a'), confirm: true }, who);
    assert.equal(r.discount_minor, 1_000);
    await assertInvariants(h.store);
  });

  test('a shared code is one public coupon: its id still names it', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'SPRING', per_user_limit: 1 });
    const shared = await h.engine.codes.resolve({ code: 'spring' });
    assert.equal(shared.campaign_id, c.id);
    const r = await h.engine.redeem(input({ coupon_id: shared.id }, 'u1'), who);
    assert.equal(r.coupon_id, shared.id);
  });
});
