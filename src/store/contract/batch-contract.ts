import assert from 'node:assert/strict';
import { verifyChain } from '../../engine/audit.ts';
import type { UsageKey } from '../port.ts';
import { batch, emptyLoad, emptyWrites, type OpenStore, seedCampaign, unpackOutbox } from './builders.ts';
import { storeTest } from './campaign-contract.ts';

/** runBatch: what it loads, what it writes, and that it writes all of it or nothing. */
export function batchContract(open: OpenStore): void {
  storeTest('runBatch keeps the status and code columns in step with the campaign', open, async (store, b) => {
    const campaign = await seedCampaign(store, b, { status: 'active', code_mode: 'shared_code', code: 'OLDCODE' });
    const listed = async (status: string) => (await store.listCampaigns({ limit: 10, status })).data.map((c) => c.id);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.campaign.spent_minor += 1;
    });
    assert.deepEqual(await listed('active'), [campaign.id], 'a batch that leaves them alone keeps them');
    assert.deepEqual(await store.sharedCodes(1), ['OLDCODE']);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.campaign.status = 'paused';
      w.campaign.code = 'NEWCODE';
    });
    assert.deepEqual(await listed('active'), []);
    assert.deepEqual(await listed('paused'), [campaign.id]);
    const either = await store.listCampaigns({ limit: 10, status: ['active', 'paused'] });
    assert.deepEqual(
      either.data.map((c) => c.id),
      [campaign.id],
      'any of several statuses, in one read',
    );
    assert.deepEqual((await store.listCampaigns({ limit: 10, status: ['active', 'draft'] })).data, []);
    assert.deepEqual(await store.sharedCodes(1), ['NEWCODE']);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.campaign.status = 'active';
    });
    assert.deepEqual(await listed('active'), [campaign.id], 'the status alone changes too');
    assert.deepEqual(await store.sharedCodes(1), ['NEWCODE']);
    assert.equal((await store.getCampaign(campaign.id))?.spent_minor, campaign.spent_minor + 1);
  });

  storeTest('runBatch writes coupons, redemptions, usage, idempotency, audit and outbox', open, async (store, b) => {
    const c1 = b.coupon('');
    const campaign = await seedCampaign(store, b, {}, [c1]);
    const coupon1 = { ...c1, campaign_id: campaign.id };
    // Quotes, braces, commas, backslashes and non-ASCII must survive bulk (array) parameters.
    const awkward = 'u2 "q", {b} \\ NULL ☃ 券';
    const coupon2 = b.coupon(campaign.id, { user_id: awkward, code: `${awkward}-code` });
    const r1 = b.redemption(coupon1, { order_id: awkward, device_id: null, ip: null });
    const idem = b.idem('idem-r1', { ok: true, value: r1 });
    const event = {
      id: b.id('evt'),
      type: 'redemption.reserved',
      created_at_ms: b.now_ms,
      data: { id: r1.id, n: [1, 2] },
    };
    const load = emptyLoad({
      coupon_ids: [coupon1.id],
      usage_keys: ['user:u1', 'merchant:m1'],
      idempotency_keys: ['idem-r1'],
    });
    const seen = await batch(store, campaign.id, load, (snap, w) => {
      w.campaign.reserved_minor += r1.discount_minor;
      w.campaign.reserved_count += 1;
      w.coupons_insert.push(coupon2);
      w.coupons_update.push({ ...coupon1, status: 'reserved', updated_at_ms: b.now_ms });
      w.redemptions_insert.push(r1);
      w.usage_delta.set('user:u1', 1);
      w.usage_delta.set('merchant:m1', 1);
      w.usage_delta.set('claim:u9', 0);
      w.idempotency_insert.push(idem);
      w.audit.push(b.audit(w.campaign, 'redemption.reserved', { id: r1.id }));
      w.outbox.push(event);
      assert.deepEqual(snap.coupons.get(coupon1.id), coupon1);
    });
    assert.deepEqual(seen.campaign, campaign);
    assert.deepEqual(
      [...seen.usage],
      [
        ['user:u1', 0],
        ['merchant:m1', 0],
      ],
    );
    assert.equal(seen.idempotency.size, 0);
    const after = await store.getCampaign(campaign.id);
    assert.equal(after?.reserved_minor, r1.discount_minor);
    assert.equal(after?.audit_seq, 2);
    assert.equal((await store.getCoupon(coupon1.id))?.status, 'reserved');
    assert.deepEqual(await store.getCoupon(coupon2.id), coupon2);
    assert.deepEqual(await store.getRedemption(r1.id), r1);
    assert.deepEqual(await store.getIdempotency('idem-r1'), idem);
    assert.deepEqual(
      await store.usageCounts(campaign.id),
      new Map([
        ['user:u1', 1],
        ['merchant:m1', 1],
      ]),
    );
    const chain = await store.auditChain(campaign.id);
    assert.equal(chain.length, 2);
    assert.equal(verifyChain(chain).ok, true);
    assert.equal(chain[1]?.hash, after?.audit_head);
    assert.deepEqual(unpackOutbox(await store.pendingOutbox(10)), [event]);
  });

  storeTest(
    'a second batch sees the first: snapshot loads, updates and usage deltas accumulate',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const coupon = b.coupon(campaign.id);
      const r = b.redemption(coupon);
      await batch(store, campaign.id, emptyLoad(), (_, w) => {
        w.coupons_insert.push(coupon);
        w.redemptions_insert.push(r);
        w.usage_delta.set('user:u1', 2);
        w.usage_delta.set('merchant:m1', 1);
        w.idempotency_insert.push(b.idem('k-first'));
      });
      const load = emptyLoad({
        redemption_ids: [r.id, 'rdm_missing'],
        coupon_ids: ['cpn_missing'],
        idempotency_keys: ['k-first', 'k-none'],
      });
      const keys: UsageKey[] = ['user:u1', 'merchant:m1', 'claim:u1'];
      const confirmed = { ...r, status: 'confirmed' as const, hold_expires_at_ms: null, updated_at_ms: b.now_ms + 5 };
      const seen = await batch(store, campaign.id, { ...load, usage_keys: keys }, (_, w) => {
        w.redemptions_update.push(confirmed);
        w.coupons_update.push({ ...coupon, status: 'redeemed', updated_at_ms: b.now_ms + 5 });
        w.usage_delta.set('user:u1', 3);
        w.usage_delta.set('merchant:m1', -1);
      });
      assert.deepEqual(seen.redemptions, new Map([[r.id, r]]));
      assert.deepEqual(seen.coupons, new Map([[coupon.id, coupon]]), 'the coupon of a loaded redemption is loaded too');
      assert.deepEqual(
        seen.usage,
        new Map([
          ['user:u1', 2],
          ['merchant:m1', 1],
          ['claim:u1', 0],
        ]),
      );
      assert.deepEqual([...seen.idempotency.keys()], ['k-first']);
      assert.deepEqual(await store.getRedemption(r.id), confirmed);
      assert.equal((await store.getCoupon(coupon.id))?.status, 'redeemed');
      assert.deepEqual(
        await store.getUsage(campaign.id, keys),
        new Map([
          ['user:u1', 5],
          ['merchant:m1', 0],
          ['claim:u1', 0],
        ]),
      );
    },
  );

  storeTest('load sees the locked campaign as last committed and decides what to read', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.campaign.claimed_count = 7;
    });
    const seen = await store.runBatch(
      campaign.id,
      (c) => emptyLoad({ usage_keys: c.claimed_count === 7 ? ['claim:seen'] : [] }),
      (snap) => ({ writes: null, result: snap }),
    );
    assert.equal(seen.campaign.claimed_count, 7);
    assert.deepEqual(seen.usage, new Map([['claim:seen', 0]]));
  });

  storeTest('all_reserved loads every reserved redemption of the campaign, and only those', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const other = await seedCampaign(store, b);
    const coupons = [0, 1, 2].map(() => b.coupon(campaign.id));
    const theirs = b.coupon(other.id);
    const [a, bb, cc] = coupons.map((c, i) => b.redemption(c, { status: i === 2 ? 'confirmed' : 'reserved' }));
    const foreign = b.redemption(theirs);
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.coupons_insert.push(...coupons);
      w.redemptions_insert.push(...[a, bb, cc].flatMap((r) => (r ? [r] : [])));
    });
    await batch(store, other.id, emptyLoad(), (_, w) => {
      w.coupons_insert.push(theirs);
      w.redemptions_insert.push(foreign);
    });
    const seen = await batch(store, campaign.id, emptyLoad({ all_reserved: true }), () => undefined);
    assert.deepEqual([...seen.redemptions.keys()].sort(), [a?.id, bb?.id].sort());
    assert.deepEqual([...seen.coupons.keys()].sort(), [coupons[0]?.id, coupons[1]?.id].sort());
  });

  storeTest('bulk revoke_active_coupons revokes the active coupons of this campaign only', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const other = await seedCampaign(store, b);
    const active = [b.coupon(campaign.id), b.coupon(campaign.id)];
    const redeemed = b.coupon(campaign.id, { status: 'redeemed' });
    const theirs = b.coupon(other.id);
    await batch(store, campaign.id, emptyLoad(), (_, w) => w.coupons_insert.push(...active, redeemed));
    await batch(store, other.id, emptyLoad(), (_, w) => w.coupons_insert.push(theirs));
    const at_ms = b.now_ms + 1000;
    await batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.campaign.status = 'revoked';
      w.bulk.push({ kind: 'revoke_active_coupons', at_ms });
    });
    for (const c of active)
      assert.deepEqual(await store.getCoupon(c.id), { ...c, status: 'revoked', updated_at_ms: at_ms });
    assert.deepEqual(await store.getCoupon(redeemed.id), redeemed);
    assert.deepEqual(await store.getCoupon(theirs.id), theirs);
    assert.equal((await store.getCampaign(campaign.id))?.status, 'revoked');
  });

  storeTest(
    'a decide that throws writes nothing and its error reaches the caller unchanged',
    open,
    async (store, b) => {
      const campaign = await seedCampaign(store, b);
      const boom = new Error('decide failed');
      await assert.rejects(
        store.runBatch(
          campaign.id,
          () => emptyLoad(),
          () => {
            throw boom;
          },
        ),
        (err) => err === boom,
      );
      assert.deepEqual(await store.getCampaign(campaign.id), campaign);
      const again = await batch(store, campaign.id, emptyLoad(), () => undefined);
      assert.deepEqual(again.campaign, campaign, 'the store is usable after a failed batch');
    },
  );

  storeTest('a write that fails midway rolls the whole batch back', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const coupon = b.coupon(campaign.id);
    const r = b.redemption(coupon);
    await batch(store, campaign.id, emptyLoad(), (_, w) => w.redemptions_insert.push(r));
    const fresh = b.coupon(campaign.id);
    const failing = batch(store, campaign.id, emptyLoad(), (_, w) => {
      w.campaign.spent_minor = 777;
      w.coupons_insert.push(fresh);
      w.usage_delta.set('user:u1', 1);
      w.audit.push(b.audit(w.campaign, 'will.fail', {}));
      w.redemptions_insert.push({ ...r }); // same id: a primary-key violation after earlier writes
    });
    await assert.rejects(failing);
    assert.deepEqual(await store.getCampaign(campaign.id), campaign);
    assert.equal(await store.getCoupon(fresh.id), null);
    assert.deepEqual(await store.usageCounts(campaign.id), new Map());
    assert.equal((await store.auditChain(campaign.id)).length, 1);
  });

  storeTest('a decide returning writes = null writes nothing and returns its result', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const result = await store.runBatch(
      campaign.id,
      () => emptyLoad(),
      (snap) => {
        snap.campaign.spent_minor = 999; // changing the snapshot alone must not reach the store
        return { writes: null, result: 'nothing to do' };
      },
    );
    assert.equal(result, 'nothing to do');
    assert.deepEqual(await store.getCampaign(campaign.id), campaign);
    assert.deepEqual(await store.pendingOutbox(10), []);
  });

  storeTest('runBatch on a missing campaign fails', open, async (store) => {
    await assert.rejects(
      store.runBatch(
        'cmp_missing',
        () => emptyLoad(),
        () => ({ writes: null, result: 1 }),
      ),
    );
  });

  storeTest('50 concurrent batches on one campaign serialize: every increment lands', open, async (store, b) => {
    const campaign = await seedCampaign(store, b);
    const n = 50;
    const runs = Array.from({ length: n }, (_, i) =>
      store.runBatch(
        campaign.id,
        () => emptyLoad({ usage_keys: ['claim:u1'] }),
        (snap) => {
          const w = emptyWrites(structuredClone(snap.campaign));
          w.campaign.claimed_count = snap.campaign.claimed_count + 1;
          w.usage_delta.set('claim:u1', 1);
          w.audit.push(b.audit(w.campaign, 'claim', { i }));
          return { writes: w, result: snap.campaign.claimed_count };
        },
      ),
    );
    const seen = await Promise.all(runs);
    assert.deepEqual(
      [...seen].sort((x: number, y: number) => x - y),
      Array.from({ length: n }, (_, i) => i),
      'each batch saw the one before',
    );
    const after = await store.getCampaign(campaign.id);
    assert.equal(after?.claimed_count, n);
    assert.deepEqual(await store.getUsage(campaign.id, ['claim:u1']), new Map([['claim:u1', n]]));
    const chain = await store.auditChain(campaign.id);
    assert.equal(chain.length, n + 1);
    assert.equal(verifyChain(chain).ok, true);
  });

  storeTest(
    'an idempotency key taken by another campaign meanwhile is replayed, not failed',
    open,
    async (store, b) => {
      const one = await seedCampaign(store, b);
      const two = await seedCampaign(store, b);
      const claim = (campaign_id: string, key: string) =>
        store.runBatch(
          campaign_id,
          () => emptyLoad({ idempotency_keys: [key] }),
          (snap) => {
            const prev = snap.idempotency.get(key);
            if (prev) return { writes: null, result: `replayed ${String(prev.result)}` };
            const w = emptyWrites(structuredClone(snap.campaign));
            w.idempotency_insert.push(b.idem(key, campaign_id));
            return { writes: w, result: 'first' };
          },
        );
      const keys = Array.from({ length: 20 }, (_, i) => `shared-${i}`);
      const results = await Promise.all(keys.flatMap((k) => [claim(one.id, k), claim(two.id, k)]));
      for (const [i, k] of keys.entries()) {
        const pair = [results[2 * i], results[2 * i + 1]];
        const stored = await store.getIdempotency(k);
        assert.ok(stored, `${k} stored`);
        assert.deepEqual(pair.filter((r) => r === 'first').length, 1, `${k}: ${pair.join(', ')}`);
        assert.ok(pair.includes(`replayed ${String(stored.result)}`), `${k}: the loser replays the winner`);
      }
    },
  );
}
