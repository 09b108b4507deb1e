import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import type { Coupon } from '../../src/domain/coupon.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import type { BatchItem, BatchSnapshot } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, day_ms, harness, order, rejects, t0 } from '../support/fixtures.ts';

const who = { actor: 'key_checkout' };

describe('claim and redeem', () => {
  test('claim, reserve, confirm moves money from available to reserved to spent', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    assert.equal(coupon.status, 'active');
    assert.equal(coupon.user_id, 'u1');
    const r = await h.engine.redeem({ user_id: 'u1', code: coupon.code, order: order() }, who);
    assert.equal(r.status, 'reserved');
    assert.equal(r.discount_minor, 1000);
    let now = await h.engine.getCampaign(c.id);
    assert.equal(now.reserved_minor, 1000);
    assert.equal(now.spent_minor, 0);
    const done = await h.engine.confirm(r.id, who);
    assert.equal(done.status, 'confirmed');
    now = await h.engine.getCampaign(c.id);
    assert.equal(now.reserved_minor, 0);
    assert.equal(now.spent_minor, 1000);
    assert.equal((await h.engine.getCoupon(coupon.id)).status, 'redeemed');
    await assertInvariants(h.store);
  });

  test('a claimed coupon expires at min(claim + ttl, campaign end)', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { coupon_ttl_s: 3600 });
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    assert.equal(coupon.expires_at_ms, h.clock.now() + 3600_000);
    const c2 = await activeCampaign(h, { coupon_ttl_s: 365 * 24 * 3600, name: 'long' });
    const coupon2 = await h.engine.claim({ campaign_id: c2.id, user_id: 'u1' }, who);
    assert.equal(coupon2.expires_at_ms, c2.ends_at_ms);
  });

  test('an expired coupon does not redeem, even though the claim was valid (the 2019 hole)', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { coupon_ttl_s: 3600 });
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    h.clock.advance(3600_000);
    await rejects(h.engine.redeem({ user_id: 'u1', code: coupon.code, order: order() }, who), 'coupon_expired');
    h.clock.advance(-1);
    const r = await h.engine.redeem({ user_id: 'u1', code: coupon.code, order: order() }, who);
    assert.equal(r.status, 'reserved');
    await assertInvariants(h.store);
  });

  test('the campaign window is checked again at redemption', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { coupon_ttl_s: null });
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    h.clock.set(c.ends_at_ms);
    await rejects(h.engine.redeem({ user_id: 'u1', code: coupon.code, order: order() }, who), 'campaign_ended');
    const shared = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'WINDOW',
      per_user_limit: 5,
      starts_at_ms: t0 + 40 * day_ms,
      ends_at_ms: t0 + 50 * day_ms,
    });
    h.clock.set(t0 + 39 * day_ms);
    await rejects(h.engine.redeem({ user_id: 'u1', code: 'window', order: order() }, who), 'campaign_not_started');
    h.clock.set(t0 + 50 * day_ms);
    await rejects(h.engine.redeem({ user_id: 'u1', code: 'WINDOW', order: order() }, who), 'campaign_ended');
    assert.equal((await h.engine.getCampaign(shared.id)).reserved_count, 0);
  });

  test('claims respect status, window and audience', async () => {
    const h = await harness();
    const draft = await h.engine.createCampaign((await import('../support/fixtures.ts')).spec(), who);
    await rejects(h.engine.claim({ campaign_id: draft.id, user_id: 'u1' }, who), 'campaign_not_active');
    const vip = await activeCampaign(h, { audience: { type: 'allowlist', user_ids: ['guest1'] } });
    await rejects(h.engine.claim({ campaign_id: vip.id, user_id: 'stranger' }, who), 'coupon_not_eligible_user');
    const ok = await h.engine.claim({ campaign_id: vip.id, user_id: 'guest1' }, who);
    assert.equal(ok.user_id, 'guest1');
    await rejects(h.engine.claim({ campaign_id: vip.id, user_id: 'guest1' }, who), 'per_user_limit_reached');
    await rejects(h.engine.claim({ campaign_id: 'cmp_missing', user_id: 'u' }, who), 'not_found');
  });

  test('a claimed coupon redeems only for its owner', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    await rejects(
      h.engine.redeem({ user_id: 'u2', code: coupon.code, order: order() }, who),
      'coupon_not_eligible_user',
    );
  });

  test('order rules: currency, merchant, product kind, min spend', async () => {
    const h = await harness();
    const c = await activeCampaign(h, {
      merchant_ids: ['m1'],
      per_user_limit: 10,
      code_mode: 'shared_code',
      code: 'RULES',
    });
    const redeem = (o: Parameters<typeof order>[0]) =>
      h.engine.redeem({ user_id: 'u1', code: 'RULES', order: order(o) }, who);
    await rejects(redeem({ currency: 'USD' }), 'currency_mismatch');
    await rejects(redeem({ merchant_id: 'm2' }), 'merchant_not_eligible');
    await rejects(redeem({ product_kind: 'phone_top_up' }), 'product_kind_not_eligible');
    await rejects(redeem({ amount_minor: 4999 }), 'min_spend_not_met');
    const r = await redeem({ amount_minor: 5000 });
    assert.equal(r.discount_minor, 1000);
    assert.equal((await h.engine.getCampaign(c.id)).reserved_count, 1);
    await assertInvariants(h.store);
  });

  test('product kinds stored before they were canonical still match their canonical spelling', async () => {
    const h = await harness();
    // The engine stores kinds as given; before the HTTP edge canonicalized them, campaigns held any spelling.
    const c = await activeCampaign(h, {
      product_kinds: ['Merchandise', 'Gift-Card'],
      per_user_limit: 10,
      code_mode: 'shared_code',
      code: 'LEGACY',
    });
    const redeem = (product_kind: string) =>
      h.engine.redeem({ user_id: 'u1', code: 'LEGACY', order: order({ product_kind }), confirm: true }, who);
    assert.equal((await redeem('merchandise')).status, 'confirmed');
    assert.equal((await redeem('gift_card')).status, 'confirmed');
    await rejects(redeem('virtual'), 'product_kind_not_eligible');
    assert.equal((await h.engine.getCampaign(c.id)).spent_minor, 2000);
    await assertInvariants(h.store);
    // Respelling the same kinds canonically widens nothing: no second approval.
    const respelt = await h.engine.updateCampaign(
      c.id,
      { product_kinds: ['merchandise', 'gift_card'] },
      { actor: 'key_other' },
    );
    assert.equal(respelt.status, 'active', respelt.status_reason ?? '');
    await assertInvariants(h.store);
  });

  test('a single-use coupon cannot be redeemed twice; release gives it back', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const r = await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order() }, who);
    await rejects(
      h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order({ id: 'o2' }) }, who),
      'coupon_already_redeemed',
    );
    await h.engine.release(r.id, who);
    assert.equal((await h.engine.getCoupon(coupon.id)).status, 'active');
    const again = await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order({ id: 'o3' }) }, who);
    assert.equal(again.status, 'reserved');
    await assertInvariants(h.store);
  });

  test('state machine: wrong moves are invalid_state', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const r = await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order() }, who);
    await rejects(h.engine.reverse(r.id, false, who), 'invalid_state');
    await h.engine.confirm(r.id, who);
    await rejects(h.engine.confirm(r.id, who), 'invalid_state');
    await rejects(h.engine.release(r.id, who), 'invalid_state');
    await h.engine.reverse(r.id, false, who);
    await rejects(h.engine.reverse(r.id, false, who), 'invalid_state');
    await rejects(h.engine.confirm('rdm_nope', who), 'not_found');
    await assertInvariants(h.store);
  });

  test('redeem-and-reverse cycles stop where reversed_minor would pass 2^53 - 1; every counter stays exact', async () => {
    const h = await harness();
    const big = 2 ** 52 + 1;
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'HUGE',
      discount: { type: 'fixed', amount_minor: big },
      min_spend_minor: 0,
      budget_minor: Number.MAX_SAFE_INTEGER,
      max_redemptions: null,
      per_user_limit: null,
    });
    const huge = () => order({ amount_minor: Number.MAX_SAFE_INTEGER });
    const first = await h.engine.redeem({ user_id: 'u1', code: 'HUGE', order: huge() }, who);
    await h.engine.confirm(first.id, who);
    await h.engine.reverse(first.id, false, who);
    // reversed (2^52 + 1) + another 2^52 + 1 is past 2^53 - 1: refused, though the budget is all available.
    await rejects(h.engine.redeem({ user_id: 'u2', code: 'HUGE', order: huge() }, who), 'budget_exhausted');
    const now = await h.engine.getCampaign(c.id);
    assert.deepEqual([now.reversed_minor, now.spent_minor, now.reserved_minor], [big, 0, 0]);
    assert.ok(Number.isSafeInteger(now.reversed_minor));
    await assertInvariants(h.store);
  });

  test('verify holds reversed_minor to the reversed redemptions', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const r = await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order() }, who);
    await h.engine.confirm(r.id, who);
    await h.engine.reverse(r.id, false, who);
    await assertInvariants(h.store);
    const db = (h.store as unknown as { db: Database.Database }).db;
    db.prepare("UPDATE campaigns SET doc = json_set(doc, '$.reversed_minor', 0) WHERE id = ?").run(c.id);
    const report = await verifyStore(h.store);
    assert.deepEqual(
      report.violations.map((v) => [v.campaign_id, v.invariant, v.detail]),
      [[c.id, '2', 'reversed 0 != reversed rows 1000']],
    );
  });

  test('reverse returns the budget; the coupon is restored only when asked', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { per_user_limit: 5 });
    const a = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const b = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const ra = await h.engine.redeem({ user_id: 'u1', coupon_id: a.id, order: order(), confirm: true }, who);
    const rb = await h.engine.redeem({ user_id: 'u1', coupon_id: b.id, order: order(), confirm: true }, who);
    await h.engine.reverse(ra.id, false, who);
    await h.engine.reverse(rb.id, true, who);
    assert.equal((await h.engine.getCoupon(a.id)).status, 'redeemed');
    assert.equal((await h.engine.getCoupon(b.id)).status, 'active');
    const now = await h.engine.getCampaign(c.id);
    assert.equal(now.spent_minor, 0);
    assert.equal(now.reversed_minor, 2000);
    assert.equal(now.reversed_count, 2);
    await assertInvariants(h.store);
  });

  test('holds expire and are released by the sweep; a late confirm is refused', async () => {
    const h = await harness({ hold_ms: 60_000 });
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
    const r = await h.engine.redeem({ user_id: 'u1', coupon_id: coupon.id, order: order() }, who);
    assert.equal(r.hold_expires_at_ms, h.clock.now() + 60_000);
    assert.equal(await h.engine.releaseExpiredHolds(), 0);
    h.clock.advance(60_000);
    await rejects(h.engine.confirm(r.id, who), 'invalid_state');
    assert.equal(await h.engine.releaseExpiredHolds(), 1);
    const now = await h.engine.getCampaign(c.id);
    assert.equal(now.reserved_minor, 0);
    assert.equal(now.released_count, 1);
    assert.equal((await h.engine.getRedemption(r.id)).status, 'released');
    assert.equal((await h.engine.getCoupon(coupon.id)).status, 'active');
    await assertInvariants(h.store);
  });

  test('sweeps that overlap (a slow store) queue each expired hold once', async () => {
    // The sweeper starts a sweep every second; on a slow store the last one's releases are still in
    // flight, so their holds still read reserved. Queued again by every sweep, they took the queue's
    // places (503 overloaded for checkouts) and the store's time, each refused as already released.
    const sqlite = new SqliteStore({ path: ':memory:' });
    let batch_ms = 0;
    let decided = 0;
    const slow = new Proxy(sqlite, {
      get(target, prop, receiver) {
        if (prop !== 'runBatches') return Reflect.get(target, prop, receiver);
        return async (items: Array<BatchItem<unknown[]>>) => {
          await sleep(batch_ms);
          return target.runBatches(
            items.map((item) => ({
              ...item,
              decide: (snapshot: BatchSnapshot) => {
                const d = item.decide(snapshot);
                decided += d.result.length;
                return d;
              },
            })),
          );
        };
      },
    });
    const h = await harness({ hold_ms: 60_000 }, slow);
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'OVERLAP', per_user_limit: null });
    for (let i = 0; i < 3; i++) await h.engine.redeem({ user_id: `u${i}`, code: 'OVERLAP', order: order() }, who);
    h.clock.advance(60_000);
    batch_ms = 100;
    decided = 0;
    const sweeps = await Promise.all([1, 2, 3].map(() => h.engine.releaseExpiredHolds()));
    assert.equal(decided, 3, 'each expired hold is decided once');
    assert.equal(Math.max(...sweeps), 3);
    const now = await h.engine.getCampaign(c.id);
    assert.deepEqual([now.reserved_count, now.released_count, now.reserved_minor], [0, 3, 0]);
    await assertInvariants(h.store);
  });
});

describe('limits and budget', () => {
  test('budget is exhausted exactly: the last discount that fits is granted, the next is refused', async () => {
    const h = await harness();
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'BUDGET',
      budget_minor: 2500,
      max_redemptions: null,
      per_user_limit: null,
    });
    const ok: Redemption[] = [];
    for (let i = 0; i < 2; i++)
      ok.push(
        await h.engine.redeem({ user_id: `u${i}`, code: 'BUDGET', order: order({ id: `o${i}` }), confirm: true }, who),
      );
    await rejects(h.engine.redeem({ user_id: 'u9', code: 'BUDGET', order: order() }, who), 'budget_exhausted');
    const now = await h.engine.getCampaign(c.id);
    assert.equal(now.spent_minor, 2000);
    assert.equal(now.budget_minor - now.spent_minor - now.reserved_minor, 500);
    await assertInvariants(h.store);
  });

  test('max_redemptions, per_user_limit and per_merchant_limit are exact at the boundary', async () => {
    const h = await harness();
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'LIMITS',
      max_redemptions: 4,
      per_user_limit: 2,
      per_merchant_limit: 3,
    });
    const redeem = (user: string, merchant: string) =>
      h.engine.redeem({ user_id: user, code: 'LIMITS', order: order({ merchant_id: merchant }) }, who);
    await redeem('a', 'm1');
    await redeem('a', 'm1');
    await rejects(redeem('a', 'm2'), 'per_user_limit_reached');
    await redeem('b', 'm1');
    await rejects(redeem('c', 'm1'), 'per_merchant_limit_reached');
    await redeem('c', 'm2');
    await rejects(redeem('d', 'm3'), 'usage_limit_reached');
    assert.equal((await h.engine.getCampaign(c.id)).reserved_count, 4);
    await assertInvariants(h.store);
  });

  test("validate answers each limit as a redemption would, reading only the counts the limits set need (and the order's)", async () => {
    const h = await harness();
    await activeCampaign(h, { code_mode: 'shared_code', code: 'BOTH', per_user_limit: 1, per_merchant_limit: 2 });
    await activeCampaign(h, { code_mode: 'shared_code', code: 'USER', per_user_limit: 1, per_merchant_limit: null });
    await activeCampaign(h, { code_mode: 'shared_code', code: 'SHOP', per_user_limit: null, per_merchant_limit: 1 });
    await activeCampaign(h, { code_mode: 'shared_code', code: 'NONE', per_user_limit: null, per_merchant_limit: null });
    const input = (code: string, user: string, merchant: string) => ({
      user_id: user,
      code,
      order: order({ merchant_id: merchant }),
    });
    // Which usage counts validate reads: the order's, and only those a limit of the campaign looks at.
    const asked: string[] = [];
    const getUsage = h.store.getUsage.bind(h.store);
    h.store.getUsage = (id, keys) => {
      asked.push(...keys.map((k) => (k.startsWith('order:') ? 'order' : k)));
      return getUsage(id, keys);
    };
    const verdict = async (code: string, user: string, merchant: string) => {
      asked.length = 0;
      const answer = (await h.engine.validate(input(code, user, merchant))).reason?.code ?? 'valid';
      return `${answer} [${asked.join(' ')}]`;
    };
    for (const code of ['BOTH', 'USER', 'SHOP', 'NONE']) await h.engine.redeem(input(code, 'a', 'm1'), who);
    assert.deepEqual(
      [
        await verdict('BOTH', 'a', 'm2'),
        await verdict('BOTH', 'b', 'm1'),
        await verdict('USER', 'a', 'm1'),
        await verdict('USER', 'b', 'm1'),
        await verdict('SHOP', 'b', 'm1'),
        await verdict('SHOP', 'a', 'm2'),
        await verdict('NONE', 'a', 'm1'),
      ],
      [
        'per_user_limit_reached [order user:a merchant:m2]',
        'valid [order user:b merchant:m1]',
        'per_user_limit_reached [order user:a]',
        'valid [order user:b]',
        'per_merchant_limit_reached [order merchant:m1]',
        'valid [order merchant:m2]',
        'valid [order]',
      ],
    );
    await h.engine.redeem(input('BOTH', 'b', 'm1'), who);
    assert.equal(await verdict('BOTH', 'c', 'm1'), 'per_merchant_limit_reached [order user:c merchant:m1]');
  });

  test('one discount per order and campaign: a second redemption of the order is refused until the first is released or reversed', async () => {
    const h = await harness();
    // No per-user limit: only the order rule stands between a retried checkout and a second discount.
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'ONCE', per_user_limit: null });
    const o = order({ id: 'order-42', amount_minor: 6000 });
    const first = await h.engine.redeem({ user_id: 'a', code: 'ONCE', order: o, confirm: true }, who);
    await rejects(
      h.engine.redeem({ user_id: 'a', code: 'ONCE', order: o, confirm: true }, who),
      'coupon_already_redeemed',
    );
    // Another user on the same order, too; the same order id at another merchant is another order.
    await rejects(h.engine.redeem({ user_id: 'b', code: 'ONCE', order: o }, who), 'coupon_already_redeemed');
    assert.equal(
      (await h.engine.validate({ user_id: 'a', code: 'ONCE', order: o })).reason?.code,
      'coupon_already_redeemed',
    );
    await h.engine.redeem({ user_id: 'a', code: 'ONCE', order: { ...o, merchant_id: 'm2' } }, who);
    // Concurrent attempts on one new order: exactly one gets the discount.
    const fresh = order({ id: 'order-43' });
    const settled = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => h.engine.redeem({ user_id: `u${i}`, code: 'ONCE', order: fresh }, who)),
    );
    assert.equal(settled.filter((s) => s.status === 'fulfilled').length, 1);
    for (const s of settled) {
      if (s.status === 'rejected') assert.equal((s.reason as { code?: string }).code, 'coupon_already_redeemed');
    }
    // A reversed order (refunded) may be discounted again, as may a released hold's.
    await h.engine.reverse(first.id, false, who);
    const again = await h.engine.redeem({ user_id: 'a', code: 'ONCE', order: o }, who);
    await h.engine.release(again.id, who);
    await h.engine.redeem({ user_id: 'a', code: 'ONCE', order: o, confirm: true }, who);
    assert.equal((await h.engine.getCampaign(c.id)).confirmed_count, 1);
    await assertInvariants(h.store);
  });

  test('releasing gives the limit back', async () => {
    const h = await harness();
    await activeCampaign(h, { code_mode: 'shared_code', code: 'BACK', per_user_limit: 1 });
    const r = await h.engine.redeem({ user_id: 'a', code: 'BACK', order: order() }, who);
    await rejects(h.engine.redeem({ user_id: 'a', code: 'BACK', order: order() }, who), 'per_user_limit_reached');
    await h.engine.release(r.id, who);
    await h.engine.redeem({ user_id: 'a', code: 'BACK', order: order() }, who);
    await assertInvariants(h.store);
  });
});

describe('kill switch', () => {
  test('pause stops redemptions and confirms; resume restores them', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'PAUSE', per_user_limit: 5 });
    const r = await h.engine.redeem({ user_id: 'a', code: 'PAUSE', order: order() }, who);
    await h.engine.campaignAction(c.id, 'pause', { actor: 'key_admin' }, 'suspicious');
    await h.engine.campaignAction(c.id, 'pause', { actor: 'key_admin' }, 'again');
    await rejects(h.engine.redeem({ user_id: 'b', code: 'PAUSE', order: order() }, who), 'campaign_paused');
    await rejects(h.engine.confirm(r.id, who), 'campaign_paused');
    const resumed = await h.engine.campaignAction(c.id, 'resume', { actor: 'key_admin' });
    assert.equal(resumed.status, 'active');
    await h.engine.confirm(r.id, who);
    await assertInvariants(h.store);
  });

  test('revoke releases every hold and revokes every unredeemed coupon', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { per_user_limit: 3 });
    const coupons: Coupon[] = [];
    for (let i = 0; i < 3; i++) coupons.push(await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who));
    const [a, b, d] = coupons as [Coupon, Coupon, Coupon];
    const held = await h.engine.redeem({ user_id: 'u1', coupon_id: a.id, order: order() }, who);
    await h.engine.redeem({ user_id: 'u1', coupon_id: b.id, order: order(), confirm: true }, who);
    const revoked = await h.engine.campaignAction(c.id, 'revoke', { actor: 'key_admin' });
    assert.equal(revoked.status, 'revoked');
    assert.equal(revoked.reserved_minor, 0);
    assert.equal(revoked.spent_minor, 1000);
    assert.equal((await h.engine.getRedemption(held.id)).status, 'released');
    assert.equal((await h.engine.getCoupon(a.id)).status, 'revoked');
    assert.equal((await h.engine.getCoupon(b.id)).status, 'redeemed');
    assert.equal((await h.engine.getCoupon(d.id)).status, 'revoked');
    await rejects(h.engine.redeem({ user_id: 'u1', coupon_id: d.id, order: order() }, who), 'campaign_revoked');
    await rejects(h.engine.campaignAction(c.id, 'resume', { actor: 'key_admin' }), 'invalid_state');
    await assertInvariants(h.store);
  });

  test('a reversal with restore_coupon in a revoked campaign returns the budget and leaves the coupon revoked', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { per_user_limit: 3 });
    const coupons: Coupon[] = [];
    for (let i = 0; i < 2; i++) coupons.push(await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who));
    const [a, b] = coupons as [Coupon, Coupon];
    const ra = await h.engine.redeem({ user_id: 'u1', coupon_id: a.id, order: order(), confirm: true }, who);
    const rb = await h.engine.redeem({ user_id: 'u1', coupon_id: b.id, order: order(), confirm: true }, who);
    await h.engine.campaignAction(c.id, 'revoke', { actor: 'key_admin' });
    assert.equal((await h.engine.getCoupon(a.id)).status, 'redeemed');

    const reversed = await h.engine.reverse(ra.id, true, who);
    assert.equal(reversed.status, 'reversed');
    assert.equal((await h.engine.getCoupon(a.id)).status, 'revoked', 'a coupon of a revoked campaign is revoked');
    await h.engine.reverse(rb.id, false, who);
    assert.equal((await h.engine.getCoupon(b.id)).status, 'redeemed', 'not asked to restore: as before');
    const now = await h.engine.getCampaign(c.id);
    assert.equal(now.status, 'revoked');
    assert.equal(now.spent_minor, 0);
    assert.equal(now.reserved_minor, 0);
    assert.equal(now.reversed_minor, 2000);
    assert.equal(now.reversed_count, 2);
    assert.equal(now.confirmed_count, 0);
    await rejects(h.engine.redeem({ user_id: 'u1', coupon_id: a.id, order: order() }, who), 'campaign_revoked');
    // The audit says the reversal revoked the coupon instead of giving it back.
    const changes = (await h.store.auditChain(c.id)).flatMap((e) => {
      type Change = { action: string; subject: string; coupon_revoked?: boolean };
      const data = JSON.parse(e.data_json) as { changes?: Change[] };
      return (data.changes ?? []).filter((ch) => ch.action === 'redemption.reversed');
    });
    assert.equal(changes.find((ch) => ch.subject === ra.id)?.coupon_revoked, true);
    assert.equal(changes.find((ch) => ch.subject === rb.id)?.coupon_revoked, undefined);
    await assertInvariants(h.store);
  });
});
