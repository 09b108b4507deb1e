import assert from 'node:assert/strict';
import { batch, emptyLoad, type OpenStore, seedCampaign } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

/** readSnapshot: reads inside see the store, errors pass through, and the store writes normally after. */
export function snapshotContract(open: OpenStore): void {
  storeTest('readSnapshot returns what its reads saw and leaves the store writable', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const seen = await store.readSnapshot(async () => {
      const c = await store.getCampaign(campaign.id);
      const ids = await store.campaignIds();
      const again = await store.getCampaign(campaign.id);
      return { c, ids, again };
    });
    assert.equal(seen.c?.id, campaign.id);
    assert.deepEqual(seen.c, seen.again);
    assert.deepEqual(seen.ids, [campaign.id]);
    await assert.rejects(
      store.readSnapshot(async () => {
        await store.getCampaign(campaign.id);
        throw new Error('boom');
      }),
      /boom/,
    );
    const coupon = b.coupon(campaign.id);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.coupons_insert.push(coupon);
    });
    assert.equal((await store.getCoupon(coupon.id))?.id, coupon.id, 'a batch after a snapshot commits');
  });
}
