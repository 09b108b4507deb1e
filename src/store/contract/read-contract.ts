import assert from 'node:assert/strict';
import type { Coupon } from '../../domain/coupon.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import type { Store } from '../port.ts';
import { type Build, batch, emptyLoad, type OpenStore, seedCampaign } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

/** Writes coupons and redemptions through one batch, as the engine would. */
async function put(store: Store, campaign_id: string, coupons: Coupon[], redemptions: Redemption[]): Promise<void> {
  await batch(store, campaign_id, emptyLoad(), (_, w) => {
    w.coupons_insert.push(...coupons);
    w.redemptions_insert.push(...redemptions);
  });
}

/** A campaign with one coupon per redemption, in the given statuses and merchants. */
async function seedRedemptions(store: Store, b: Build, specs: Array<Partial<Redemption>>): Promise<Redemption[]> {
  const campaign = await seedCampaign(store, b);
  const coupons = specs.map(() => b.coupon(campaign.id));
  const rs = specs.map((spec, i) => b.redemption(coupons[i] as Coupon, spec));
  await put(store, campaign.id, coupons, rs);
  return rs;
}

/** Reads outside batches: lookups, lists, and the aggregates verify and incidents use. */
export function readContract(open: OpenStore): void {
  storeTest('getCoupon, findCouponByCode and getRedemption return null when absent', open, async (store, b) => {
    const [r] = await seedRedemptions(store, b, [{}]);
    assert.ok(r);
    assert.equal(await store.getCoupon('cpn_missing'), null);
    assert.equal(await store.findCouponByCode('NOPE'), null);
    assert.equal(await store.getRedemption('rdm_missing'), null);
    const coupon = await store.getCoupon(r.coupon_id);
    assert.ok(coupon);
    assert.deepEqual(await store.findCouponByCode(coupon.code), coupon);
    assert.deepEqual(await store.getRedemption(r.id), r);
  });

  storeTest('released holds are counted but not summed: their sum has no bound', open, async (store, b) => {
    // Reserve-and-release cycles never touch the budget's counters, so released discounts add up past
    // 2^53 (and past SQLite's 2^63) on a campaign whose live money stays within its budget.
    const huge = Number.MAX_SAFE_INTEGER;
    const released = 1025;
    const rs = await seedRedemptions(store, b, [
      { merchant_id: 'm1', status: 'confirmed', hold_expires_at_ms: null, discount_minor: 40 },
      ...Array.from({ length: released }, () => ({
        merchant_id: 'm1',
        status: 'released' as const,
        hold_expires_at_ms: null,
        discount_minor: huge,
      })),
    ]);
    const campaign_id = rs[0]?.campaign_id ?? '';
    const groups = [
      { key: 'm1', status: 'confirmed', count: 1, discount_minor: 40 },
      { key: 'm1', status: 'released', count: released, discount_minor: 0 },
    ];
    const byStatus = (a: { status: string }, z: { status: string }) => a.status.localeCompare(z.status);
    assert.deepEqual((await store.exposureRows(campaign_id, 'merchant_id')).sort(byStatus), groups);
    const read = await store.exposure(campaign_id);
    assert.deepEqual(read?.by_merchant.sort(byStatus), groups);
    assert.deepEqual(
      await store.redemptionTotals(campaign_id),
      new Map([
        ['confirmed', { count: 1, discount_minor: 40 }],
        ['released', { count: released, discount_minor: 0 }],
      ]),
    );
  });

  storeTest(
    'listRedemptions filters by campaign, merchant and status and pages newest first',
    open,
    async (store, b) => {
      const rs = await seedRedemptions(store, b, [
        { merchant_id: 'm1', status: 'reserved' },
        { merchant_id: 'm2', status: 'confirmed', hold_expires_at_ms: null },
        { merchant_id: 'm1', status: 'confirmed', hold_expires_at_ms: null },
        { merchant_id: 'm1', status: 'released', hold_expires_at_ms: null },
      ]);
      const others = await seedRedemptions(store, b, [{ merchant_id: 'm1' }]);
      const ids = (list: Redemption[]) => list.map((r) => r.id);
      const campaign_id = rs[0]?.campaign_id;
      const all = await store.listRedemptions({ limit: 10, campaign_id });
      assert.deepEqual(ids(all.data), ids([...rs].reverse()));
      assert.deepEqual(all.data[0], rs[3]);
      const m1 = await store.listRedemptions({ limit: 10, merchant_id: 'm1' });
      assert.deepEqual(ids(m1.data), ids([others[0], rs[3], rs[2], rs[0]] as Redemption[]));
      const confirmedM1 = await store.listRedemptions({
        limit: 10,
        campaign_id,
        merchant_id: 'm1',
        status: 'confirmed',
      });
      assert.deepEqual(ids(confirmedM1.data), [rs[2]?.id]);
      const p1 = await store.listRedemptions({ limit: 2, campaign_id });
      assert.equal(p1.has_more, true);
      const p2 = await store.listRedemptions({ limit: 2, campaign_id, starting_after: p1.data[1]?.id });
      assert.deepEqual(ids(p2.data), [rs[1]?.id, rs[0]?.id]);
      assert.equal(p2.has_more, false);
      const everything = await store.listRedemptions({ limit: 100 });
      assert.equal(everything.data.length, 5);
    },
  );

  storeTest(
    'listCampaigns with page_bytes_max ends a page before the campaign whose stored document would pass it',
    open,
    async (store, b) => {
      // Large allowlists; c1's user ids are mostly 3-byte characters, so only a byte count cuts where this expects.
      const users = (ch: string) => Array.from({ length: 1000 }, (_, i) => `${ch.repeat(10)}-${i}`);
      const allowlist = (ch: string) => ({ audience: { type: 'allowlist' as const, user_ids: users(ch) } });
      const c0 = await seedCampaign(store, b, allowlist('a'));
      const c1 = await seedCampaign(store, b, allowlist('红'));
      const c2 = await seedCampaign(store, b, allowlist('b'));
      const [b0, b1, b2] = [c0, c1, c2].map((c) => Buffer.byteLength(JSON.stringify(c), 'utf8')) as [
        number,
        number,
        number,
      ];
      const chars = [c0, c1, c2].reduce((n, c) => n + JSON.stringify(c).length, 0);
      const cap = b2 + b1 + Math.floor(b0 / 2);
      assert.ok(chars < cap, 'counted in characters, all three would fit');
      const ids = (p: { data: Array<{ id: string }>; has_more: boolean }) => [p.data.map((c) => c.id), p.has_more];
      assert.deepEqual(ids(await store.listCampaigns({ limit: 100, page_bytes_max: 1 })), [[c2.id], true]);
      const two = await store.listCampaigns({ limit: 100, page_bytes_max: cap });
      assert.deepEqual(ids(two), [[c2.id, c1.id], true]);
      assert.deepEqual(two.data, [c2, c1], 'each campaign whole');
      const rest = await store.listCampaigns({ limit: 100, page_bytes_max: cap, starting_after: c1.id });
      assert.deepEqual(ids(rest), [[c0.id], false]);
      const active = await store.listCampaigns({ limit: 100, page_bytes_max: 1, status: ['active', 'paused'] });
      assert.deepEqual(ids(active), [[c2.id], true]);
      // The limit still applies under a large cap; a cap that fits everything leaves has_more to the limit.
      assert.deepEqual(ids(await store.listCampaigns({ limit: 2, page_bytes_max: 10 * cap })), [[c2.id, c1.id], true]);
      assert.deepEqual(ids(await store.listCampaigns({ limit: 3, page_bytes_max: 10 * cap })), [
        [c2.id, c1.id, c0.id],
        false,
      ]);
      assert.deepEqual(ids(await store.listCampaigns({ limit: 3 })), [[c2.id, c1.id, c0.id], false]);
    },
  );

  storeTest(
    'expiredHolds lists reserved redemptions whose hold is due, oldest first, up to limit',
    open,
    async (store, b) => {
      const now_ms = b.now_ms + 60_000;
      const rs = await seedRedemptions(store, b, [
        { hold_expires_at_ms: now_ms - 10 },
        { hold_expires_at_ms: now_ms - 30 },
        { hold_expires_at_ms: now_ms },
        { hold_expires_at_ms: now_ms + 1 },
        { hold_expires_at_ms: now_ms - 50, status: 'confirmed' },
        { hold_expires_at_ms: now_ms - 20 },
      ]);
      const due = await store.expiredHolds(now_ms, 10);
      const pick = (...i: number[]) => i.map((k) => ({ id: rs[k]?.id, campaign_id: rs[k]?.campaign_id }));
      assert.deepEqual(due, pick(1, 5, 0, 2));
      assert.deepEqual(await store.expiredHolds(now_ms, 2), pick(1, 5));
      assert.deepEqual(await store.expiredHolds(now_ms - 100, 10), []);
    },
  );

  storeTest('exposureRows, exposure and redemptionTotals group counts and sums', open, async (store, b) => {
    const rs = await seedRedemptions(store, b, [
      { merchant_id: 'm1', product_kind: 'merchandise', status: 'confirmed', discount_minor: 100 },
      { merchant_id: 'm1', product_kind: 'virtual', status: 'confirmed', discount_minor: 250 },
      { merchant_id: 'm2', product_kind: 'virtual', status: 'reserved', discount_minor: 40 },
      { merchant_id: 'm2', product_kind: 'virtual', status: 'frozen', discount_minor: 9_007_199_254_740 },
    ]);
    const campaign_id = rs[0]?.campaign_id ?? '';
    await seedRedemptions(store, b, [{ merchant_id: 'm1', status: 'confirmed' }]);
    const order = (a: { key: string; status: string }, z: { key: string; status: string }) =>
      `${a.key}/${a.status}`.localeCompare(`${z.key}/${z.status}`);
    assert.deepEqual((await store.exposureRows(campaign_id, 'merchant_id')).sort(order), [
      { key: 'm1', status: 'confirmed', count: 2, discount_minor: 350 },
      { key: 'm2', status: 'frozen', count: 1, discount_minor: 9_007_199_254_740 },
      { key: 'm2', status: 'reserved', count: 1, discount_minor: 40 },
    ]);
    assert.deepEqual((await store.exposureRows(campaign_id, 'product_kind')).sort(order), [
      { key: 'merchandise', status: 'confirmed', count: 1, discount_minor: 100 },
      { key: 'virtual', status: 'confirmed', count: 1, discount_minor: 250 },
      { key: 'virtual', status: 'frozen', count: 1, discount_minor: 9_007_199_254_740 },
      { key: 'virtual', status: 'reserved', count: 1, discount_minor: 40 },
    ]);
    const totals = new Map<RedemptionStatus, { count: number; discount_minor: number }>([
      ['confirmed', { count: 2, discount_minor: 350 }],
      ['reserved', { count: 1, discount_minor: 40 }],
      ['frozen', { count: 1, discount_minor: 9_007_199_254_740 }],
    ]);
    assert.deepEqual(await store.redemptionTotals(campaign_id), totals);
    assert.deepEqual(await store.redemptionTotals('cmp_missing'), new Map());
    // exposure: the campaign and both groupings, read together.
    const read = await store.exposure(campaign_id);
    assert.ok(read);
    assert.deepEqual(read.campaign, await store.getCampaign(campaign_id));
    assert.deepEqual(read.by_merchant.sort(order), (await store.exposureRows(campaign_id, 'merchant_id')).sort(order));
    assert.deepEqual(
      read.by_product_kind.sort(order),
      (await store.exposureRows(campaign_id, 'product_kind')).sort(order),
    );
    assert.equal(await store.exposure('cmp_missing'), null);
    const bare = await seedCampaign(store, b);
    assert.deepEqual(await store.exposure(bare.id), { campaign: bare, by_merchant: [], by_product_kind: [] });
  });

  storeTest(
    'doubleRedeemedCoupons finds single-use coupons with more than one live redemption',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const twice = b.coupon(campaign.id);
      const once = b.coupon(campaign.id);
      const shared = b.coupon(campaign.id, { kind: 'shared', user_id: null });
      const rs = [
        b.redemption(twice, { status: 'confirmed' }),
        b.redemption(twice, { status: 'frozen' }),
        b.redemption(once, { status: 'confirmed' }),
        b.redemption(once, { status: 'released' }),
        b.redemption(once, { status: 'reversed' }),
        b.redemption(shared),
        b.redemption(shared, { status: 'confirmed' }),
      ];
      await put(store, campaign.id, [twice, once, shared], rs);
      assert.deepEqual(await store.doubleRedeemedCoupons(campaign.id), [twice.id]);
    },
  );

  storeTest('usageCounts and getUsage read the per-subject counters', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.usage_delta.set('user:u1', 2);
      w.usage_delta.set('merchant:m1', 1);
      w.usage_delta.set('claim:u1', 1);
    });
    const expected = new Map([
      ['user:u1', 2],
      ['merchant:m1', 1],
      ['claim:u1', 1],
    ]);
    assert.deepEqual(new Map([...(await store.usageCounts(campaign.id))].sort()), new Map([...expected].sort()));
    const some = await store.getUsage(campaign.id, ['user:u1', 'user:nobody']);
    assert.deepEqual(
      some,
      new Map([
        ['user:u1', 2],
        ['user:nobody', 0],
      ]),
    );
    assert.deepEqual(await store.getUsage(campaign.id, []), new Map());
    assert.deepEqual(await store.usageCounts('cmp_missing'), new Map());
  });

  storeTest('forEachRedemption visits every row of the campaign in bounded pages', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const total = 12_001;
    const coupon = b.coupon(campaign.id, { kind: 'shared', user_id: null });
    const rs = Array.from({ length: total }, () => b.redemption(coupon));
    await put(store, campaign.id, [coupon], rs.slice(0, 6000));
    await put(store, campaign.id, [], rs.slice(6000));
    await seedRedemptions(store, b, [{}]);
    const sizes: number[] = [];
    const seen: string[] = [];
    await store.forEachRedemption(campaign.id, async (page) => {
      sizes.push(page.length);
      for (const r of page) seen.push(r.id);
    });
    assert.ok(sizes.length >= 3, `pages: ${sizes.join(', ')}`);
    assert.ok(
      sizes.every((n) => n > 0 && n <= 5000),
      `pages: ${sizes.join(', ')}`,
    );
    assert.equal(seen.length, total);
    assert.equal(new Set(seen).size, total);
    assert.deepEqual(new Set(seen), new Set(rs.map((r) => r.id)));
  });
}
