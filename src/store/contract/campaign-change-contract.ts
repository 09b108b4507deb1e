import assert from 'node:assert/strict';
import type { Redemption } from '../../domain/redemption.ts';
import type { Store } from '../port.ts';
import { type Build, batch, day_ms, emptyLoad, type OpenStore, seedCampaign, t0_ms } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

/** A campaign with redemptions of users u1 (2 live, 1 released), u2 (1 live) at merchants m1 / m2, and claims. */
async function seedRows(store: Store, b: Build) {
  const campaign = await seedCampaign(store, b, { per_user_limit: null, per_merchant_limit: null });
  const c1 = b.coupon(campaign.id, { user_id: 'u1' });
  const c2 = b.coupon(campaign.id, { user_id: 'u1' });
  const c3 = b.coupon(campaign.id, { user_id: 'u1' });
  const c4 = b.coupon(campaign.id, { user_id: 'u2' });
  const bearer = b.coupon(campaign.id, { user_id: null, kind: 'unique', code: `U-${campaign.id}` });
  const rows: Redemption[] = [
    b.redemption(c1, { user_id: 'u1', merchant_id: 'm1', status: 'confirmed', hold_expires_at_ms: null }),
    b.redemption(c2, { user_id: 'u1', merchant_id: 'm1' }),
    b.redemption(c3, { user_id: 'u1', merchant_id: 'm2', status: 'released', hold_expires_at_ms: null }),
    b.redemption(c4, { user_id: 'u2', merchant_id: 'm1', status: 'frozen', hold_expires_at_ms: null }),
  ];
  await batch(store, campaign.id, emptyLoad(), (_, w) => {
    w.coupons_insert.push(c1, c2, c3, c4, bearer);
    w.redemptions_insert.push(...rows);
    w.campaign.reserved_minor = 1500;
    w.campaign.reserved_count = 1;
    w.campaign.spent_minor = 3000;
    w.campaign.confirmed_count = 1;
    w.campaign.frozen_minor = 1500;
    w.campaign.frozen_count = 1;
    w.campaign.released_count = 1;
    w.campaign.claimed_count = 4;
  });
  return { campaign, coupons: { c1, c2, c3, c4, bearer } };
}

/** The batch side of a campaign change: live maxima, usage recount, coupon retiming. */
export function campaignChangeContract(open: OpenStore): void {
  storeTest('live_max counts live redemptions per user and per merchant from the rows', open, async (store, b) => {
    const { campaign } = await seedRows(store, b);
    const empty = await seedCampaign(store, b);
    const seen = await batch(store, campaign.id, emptyLoad({ live_max: true }), () => undefined);
    assert.deepEqual(seen.live_max, { user: 2, merchant: 3 });
    const none = await batch(store, empty.id, emptyLoad({ live_max: true }), () => undefined);
    assert.deepEqual(none.live_max, { user: 0, merchant: 0 });
    const unasked = await batch(store, campaign.id, emptyLoad(), () => undefined);
    assert.equal(unasked.live_max, undefined);
  });

  storeTest(
    'recount_usage rebuilds the counters of set limits from the rows, after the batch rows',
    open,
    async (store, b) => {
      const { campaign, coupons } = await seedRows(store, b);
      const other = await seedCampaign(store, b);
      await batch(store, other.id, emptyLoad(), (_, w) => {
        w.usage_delta.set('user:u1', 7);
      });
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.usage_delta.set('user:stale', 9);
        w.usage_delta.set('merchant:m1', 9);
      });
      const late = b.redemption(coupons.c4, { user_id: 'u2', merchant_id: 'm2' });
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.redemptions_insert.push(late);
        w.campaign.reserved_minor += late.discount_minor;
        w.campaign.reserved_count += 1;
        w.campaign.per_user_limit = 5;
        w.bulk.push({ kind: 'recount_usage', users: true, merchants: false });
      });
      assert.deepEqual(Object.fromEntries(await store.usageCounts(campaign.id)), {
        'user:u1': 2,
        'user:u2': 2,
        'claim:u1': 3,
        'claim:u2': 1,
      });
      assert.deepEqual(
        Object.fromEntries(await store.usageCounts(other.id)),
        { 'user:u1': 7 },
        'other campaigns untouched',
      );
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.bulk.push({ kind: 'recount_usage', users: false, merchants: true });
      });
      assert.deepEqual(Object.fromEntries(await store.usageCounts(campaign.id)), {
        'merchant:m1': 3,
        'merchant:m2': 1,
      });
    },
  );

  storeTest(
    'retime_coupons caps coupons past a new end and moves those that ended with the old one',
    open,
    async (store, b) => {
      const old_end = t0_ms + 30 * day_ms;
      const campaign = await seedCampaign(store, b, { ends_at_ms: old_end });
      const at_end = b.coupon(campaign.id, { expires_at_ms: old_end, created_at_ms: t0_ms });
      const by_ttl = b.coupon(campaign.id, { expires_at_ms: t0_ms + 3_600_000, created_at_ms: t0_ms });
      const bearer = b.coupon(campaign.id, { kind: 'unique', user_id: null, expires_at_ms: old_end });
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.coupons_insert.push(at_end, by_ttl, bearer);
      });
      const longer = old_end + 10 * day_ms;
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.bulk.push({
          kind: 'retime_coupons',
          old_ends_at_ms: old_end,
          ends_at_ms: longer,
          coupon_ttl_ms: 40 * day_ms,
          at_ms: b.now_ms,
        });
      });
      assert.equal((await store.getCoupon(at_end.id))?.expires_at_ms, t0_ms + 40 * day_ms, 'claimed: created + ttl');
      assert.equal((await store.getCoupon(by_ttl.id))?.expires_at_ms, t0_ms + 3_600_000, 'ended by its ttl: unchanged');
      assert.equal((await store.getCoupon(bearer.id))?.expires_at_ms, longer);
      const shorter = t0_ms + 1_800_000;
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.bulk.push({
          kind: 'retime_coupons',
          old_ends_at_ms: longer,
          ends_at_ms: shorter,
          coupon_ttl_ms: null,
          at_ms: b.now_ms,
        });
      });
      for (const c of [at_end, by_ttl, bearer]) assert.equal((await store.getCoupon(c.id))?.expires_at_ms, shorter);
      assert.equal((await store.getCoupon(bearer.id))?.updated_at_ms, b.now_ms);
    },
  );
}
