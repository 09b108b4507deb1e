import assert from 'node:assert/strict';
import type { Store } from '../port.ts';
import { Build, batch, emptyLoad, type OpenStore, seedCampaign } from './builders.ts';
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

/**
 * Overlapping readSnapshot calls share one snapshot until the last one ends, whichever ends first:
 * `writer` (another store on the same database) commits a campaign while the second call still
 * reads, after the first ended. Needs two stores on one database, so the adapters' own tests run it.
 */
export async function overlappingSnapshots(store: Store, writer: Store): Promise<void> {
  const ids = await store.campaignIds();
  const b = new Build();
  let endFirst = () => {};
  const first = store.readSnapshot(async () => {
    const seen = await store.campaignIds();
    await new Promise<void>((resolve) => {
      endFirst = resolve;
    });
    return seen;
  });
  const second = store.readSnapshot(async () => {
    const before = await store.campaignIds();
    endFirst();
    await first;
    const { campaign, audit } = b.campaign();
    await writer.insertCampaign(campaign, audit, [], null);
    const after = await store.campaignIds();
    const nested = await store.readSnapshot(() => store.campaignIds());
    const after_nested = await store.campaignIds();
    return { before, after, nested, after_nested };
  });
  const seen = await second;
  assert.deepEqual(await first, ids);
  assert.deepEqual(seen, { before: ids, after: ids, nested: ids, after_nested: ids }, 'still the one snapshot');
  assert.equal((await store.campaignIds()).length, ids.length + 1, 'reads after the last call see the commit');
}

/**
 * readSnapshotApart: `fn` reads one snapshot through its reader and may yield while the store
 * itself commits (as a server's other requests do); the commit is the store's own, visible to it
 * at once and not held back by the read. Needs a store that can read apart (a SQLite file, not
 * `:memory:`), so the adapters' own tests run it.
 */
export async function apartSnapshot(store: Store): Promise<void> {
  const b = new Build();
  const ids = await store.campaignIds();
  let readOnce = () => {};
  const reading = new Promise<void>((resolve) => {
    readOnce = resolve;
  });
  let wroteOnce = () => {};
  const written = new Promise<void>((resolve) => {
    wroteOnce = resolve;
  });
  const run = store.readSnapshotApart(async (reader, apart) => {
    const before = await reader.campaignIds();
    readOnce();
    await written;
    return { apart, before, after: await reader.campaignIds() };
  });
  await reading;
  const { campaign, audit } = b.campaign();
  await store.insertCampaign(campaign, audit, [], null);
  assert.deepEqual(await store.campaignIds(), [...ids, campaign.id].sort(), 'the store sees its commit at once');
  wroteOnce();
  assert.deepEqual(await run, { apart: true, before: ids, after: ids }, 'the reader stays on its snapshot');
  assert.equal((await store.campaignIds()).length, ids.length + 1);
}
