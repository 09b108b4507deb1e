import assert from 'node:assert/strict';
import type { Coupon } from '../../domain/coupon.ts';
import type { Redemption, RedemptionStatus } from '../../domain/redemption.ts';
import type { Store } from '../port.ts';
import type { CouponClass } from '../port-coupon-checks.ts';
import { type Build, batch, day_ms, emptyLoad, type OpenStore, seedCampaign, t0_ms } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

async function put(store: Store, campaign_id: string, coupons: Coupon[], redemptions: Redemption[]): Promise<void> {
  await batch(store, campaign_id, emptyLoad(), (_, w) => {
    w.coupons_insert.push(...coupons);
    w.redemptions_insert.push(...redemptions);
  });
}

/** Redemptions of `coupon`, one per status given (each its own order). */
function uses(b: Build, coupon: Coupon, statuses: RedemptionStatus[], over: Partial<Redemption> = {}): Redemption[] {
  return statuses.map((status) => b.redemption(coupon, { status, ...over }));
}

/** A class as the store must answer it: a claimed coupon, owned, no value, within the end, no redemptions. */
function klass(coupon: Coupon, over: Partial<CouponClass> = {}): CouponClass {
  return {
    kind: coupon.kind,
    status: coupon.status,
    owned: coupon.user_id !== null,
    valued: coupon.value_minor !== null && coupon.value_minor !== undefined,
    past_end: false,
    held: 0,
    spent: 0,
    reversed: 0,
    coupons: 1,
    example_id: coupon.id,
    ...over,
  };
}

/** The aggregates verify holds coupon rows to (port-coupon-checks.ts). */
export function couponCheckContract(open: OpenStore): void {
  storeTest(
    'couponClasses groups coupons by their row and their redemptions, counts capped at 2',
    open,
    async (store, b) => {
      const ends_at_ms = t0_ms + 30 * day_ms;
      const campaign = await seedCampaign(store, b, { ends_at_ms });
      const other = await seedCampaign(store, b);
      const unused = [b.coupon(campaign.id), b.coupon(campaign.id, { user_id: 'u2' })];
      const held = b.coupon(campaign.id, { status: 'reserved' });
      const crowded = b.coupon(campaign.id, { status: 'revoked' });
      const spent = b.coupon(campaign.id, { status: 'redeemed' });
      const frozen = b.coupon(campaign.id, { status: 'redeemed', value_minor: 700 });
      const shared = b.coupon(campaign.id, { kind: 'shared', user_id: null, expires_at_ms: ends_at_ms });
      const late = b.coupon(campaign.id, { kind: 'unique', user_id: null, expires_at_ms: ends_at_ms + 1 });
      const odd = b.coupon(campaign.id, { status: 'expired' as Coupon['status'] });
      const theirs = b.coupon(other.id);
      const coupons = [...unused, held, crowded, spent, frozen, shared, late, odd];
      const rs = [
        ...uses(b, held, ['reserved', 'released', 'released', 'released']),
        ...uses(b, crowded, ['reserved', 'reserved', 'confirmed', 'reversed', 'reversed', 'reversed']),
        ...uses(b, spent, ['confirmed', 'reversed']),
        ...uses(b, frozen, ['frozen']),
        ...uses(b, shared, ['reserved', 'reserved', 'reserved', 'confirmed', 'frozen', 'reversed']),
        // Of this campaign but naming the other's coupon: it counts for neither campaign's coupon classes.
        ...uses(b, theirs, ['reserved'], { campaign_id: campaign.id }),
      ];
      await put(store, other.id, [theirs], []);
      await put(store, campaign.id, coupons, rs);

      const expected = [
        klass(unused[0] as Coupon, { coupons: 2 }),
        klass(held, { held: 1 }),
        klass(crowded, { held: 2, spent: 1, reversed: 2 }),
        klass(spent, { spent: 1, reversed: 1 }),
        klass(frozen, { spent: 1 }),
        klass(shared, { held: 2, spent: 2, reversed: 1 }),
        klass(late, { past_end: true }),
        klass(odd),
      ];
      assert.deepEqual(await store.couponClasses(campaign.id, ends_at_ms), expected);
      assert.deepEqual(await store.couponClasses(other.id, other.ends_at_ms), [klass(theirs)]);
      assert.deepEqual(await store.couponClasses('cmp_missing', ends_at_ms), []);
      const earlier = await store.couponClasses(campaign.id, t0_ms);
      assert.equal(earlier.filter((k) => k.past_end).length, earlier.length, 'every coupon expires after t0');
    },
  );

  storeTest(
    'thousands of coupons and redemptions come back as a few classes (bounded for verify)',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const n = 3000;
      const unused = Array.from({ length: n }, () => b.coupon(campaign.id));
      const redeemed = Array.from({ length: n }, () => b.coupon(campaign.id, { status: 'redeemed' }));
      const rs = redeemed.map((c) => b.redemption(c, { status: 'confirmed' }));
      await put(store, campaign.id, [...unused, ...redeemed], rs);
      const first = (list: Coupon[]) => list[0] ?? assert.fail('empty');
      assert.deepEqual(await store.couponClasses(campaign.id, campaign.ends_at_ms), [
        klass(first(unused), { coupons: n }),
        klass(first(redeemed), { coupons: n, spent: 1 }),
      ]);
      const fits = await store.redemptionFits(campaign.id);
      assert.deepEqual(fits, [
        { no_coupon: false, not_owner: false, over_value: false, redemptions: n, example_id: rs[0]?.id },
      ]);
    },
  );

  storeTest('redemptionFits classes redemptions by how they fit the coupon they name', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const other = await seedCampaign(store, b);
    const owned = b.coupon(campaign.id, { user_id: 'u1' });
    const bearer = b.coupon(campaign.id, { kind: 'unique', user_id: null });
    const valued = b.coupon(campaign.id, { value_minor: 1500 });
    const theirs = b.coupon(other.id);
    const fitting = [
      b.redemption(owned, { user_id: 'u1' }),
      b.redemption(bearer, { user_id: 'u2' }),
      b.redemption(valued, { discount_minor: 1500 }),
    ];
    const strangers = [b.redemption(owned, { user_id: 'u2', status: 'released' })];
    const over = [b.redemption(valued, { discount_minor: 1501 })];
    const missing = [
      b.redemption(b.coupon(campaign.id, { id: 'cpn_gone' })),
      b.redemption(theirs, { campaign_id: campaign.id }),
    ];
    await put(store, other.id, [theirs], []);
    await put(store, campaign.id, [owned, bearer, valued], [...fitting, ...strangers, ...over, ...missing]);
    const fit = (no_coupon: boolean, not_owner: boolean, over_value: boolean, of: Redemption[]) => ({
      no_coupon,
      not_owner,
      over_value,
      redemptions: of.length,
      example_id: of[0]?.id ?? '',
    });
    assert.deepEqual(await store.redemptionFits(campaign.id), [
      fit(false, false, false, fitting),
      fit(false, true, false, strangers),
      fit(false, false, true, over),
      fit(true, false, false, missing),
    ]);
    assert.deepEqual(await store.redemptionFits(other.id), []);
  });

  storeTest(
    'unredeemedThrough counts active and reserved coupons up to the bound, ids compared byte-wise',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const other = await seedCampaign(store, b);
      const at = (id: string, status: Coupon['status']) => b.coupon(campaign.id, { id, status });
      // Byte-wise 'cpn_Z' < 'cpn_a' (a locale collation would put 'a' first); the bound itself counts.
      const coupons = [
        at('cpn_B', 'reserved'),
        at('cpn_A', 'active'),
        at('cpn_C', 'redeemed'),
        at('cpn_D', 'revoked'),
        at('cpn_Z', 'active'),
        at('cpn_a', 'active'),
      ];
      await put(store, other.id, [b.coupon(other.id, { id: 'cpn_0' })], []);
      await put(store, campaign.id, coupons, []);
      assert.deepEqual(await store.unredeemedThrough(campaign.id, 'cpn_Z'), { coupons: 3, first_id: 'cpn_A' });
      assert.deepEqual(await store.unredeemedThrough(campaign.id, 'cpn_Y'), { coupons: 2, first_id: 'cpn_A' });
      assert.deepEqual(await store.unredeemedThrough(campaign.id, 'cpn_b'), { coupons: 4, first_id: 'cpn_A' });
      assert.deepEqual(await store.unredeemedThrough(campaign.id, 'cpn_9'), { coupons: 0, first_id: null });
      assert.deepEqual(await store.unredeemedThrough(other.id, 'cpn_Z'), { coupons: 1, first_id: 'cpn_0' });
      assert.deepEqual(await store.unredeemedThrough('cmp_missing', 'cpn_Z'), { coupons: 0, first_id: null });
    },
  );
}
