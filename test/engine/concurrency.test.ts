import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import type { Redemption } from '../../src/domain/redemption.ts';
import type { BatchItem, BatchSnapshot } from '../../src/store/port.ts';
import type { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order, rejects } from '../support/fixtures.ts';

async function settle<T>(ps: Promise<T>[]) {
  const rs = await Promise.allSettled(ps);
  const ok = rs.filter((r): r is PromiseFulfilledResult<Awaited<T>> => r.status === 'fulfilled').map((r) => r.value);
  const codes = new Map<string, number>();
  for (const r of rs) {
    if (r.status === 'rejected') {
      assert.ok(r.reason instanceof Rejection, `unexpected error ${String(r.reason)}`);
      codes.set(r.reason.code, (codes.get(r.reason.code) ?? 0) + 1);
    }
  }
  return { ok, codes };
}

describe('group commit under concurrency', () => {
  test('5,000 concurrent redemptions of varied amounts never spend one minor unit over budget', async () => {
    const h = await harness({ batch_commands_max: 256 });
    const budget_minor = 1_234_567;
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'STAMPEDE',
      discount: { type: 'percent', percent_bp: 1500, max_discount_minor: 5000 },
      budget_minor,
      max_redemptions: null,
      per_user_limit: null,
      min_spend_minor: 100,
    });
    const amounts = Array.from({ length: 5000 }, (_, i) => 100 + ((i * 7919) % 40_000));
    const { ok, codes } = await settle(
      amounts.map((amount_minor, i) =>
        h.engine.redeem(
          { user_id: `u${i}`, code: 'STAMPEDE', order: order({ id: `o${i}`, amount_minor }), confirm: i % 2 === 0 },
          { actor: 'k' },
        ),
      ),
    );
    const granted = ok.reduce((a, r) => a + r.discount_minor, 0);
    const now = await h.engine.getCampaign(c.id);
    assert.ok(granted <= budget_minor);
    assert.equal(now.reserved_minor + now.spent_minor, granted);
    assert.equal(ok.length + (codes.get('budget_exhausted') ?? 0), 5000);
    assert.ok((codes.get('budget_exhausted') ?? 0) > 0, 'the budget must run out in this test');
    await assertInvariants(h.store);
  });

  test('confirms, releases and new reservations racing on one campaign keep conservation', async () => {
    const h = await harness({ batch_commands_max: 64 });
    const c = await activeCampaign(h, {
      code_mode: 'shared_code',
      code: 'RACE',
      budget_minor: 500_000,
      max_redemptions: 300,
      per_user_limit: 3,
    });
    const first = await settle(
      Array.from({ length: 400 }, (_, i) =>
        h.engine.redeem({ user_id: `u${i % 150}`, code: 'RACE', order: order({ id: `o${i}` }) }, { actor: 'k' }),
      ),
    );
    assert.equal(first.ok.length, 300);
    assert.equal(first.codes.get('usage_limit_reached'), 100);
    const settles: Promise<Redemption>[] = [];
    const fresh: Promise<Redemption>[] = [];
    first.ok.forEach((r, i) => {
      settles.push(i % 3 === 0 ? h.engine.release(r.id, { actor: 'k' }) : h.engine.confirm(r.id, { actor: 'k' }));
      fresh.push(h.engine.redeem({ user_id: `v${i}`, code: 'RACE', order: order({ id: `n${i}` }) }, { actor: 'k' }));
    });
    const [settled, added] = await Promise.all([settle(settles), settle(fresh)]);
    const released = settled.ok.filter((r) => r.status === 'released').length;
    assert.equal(released, 100);
    assert.equal(settled.ok.length, 300);
    const now = await h.engine.getCampaign(c.id);
    // Whatever the interleaving, live redemptions are the first wave minus releases plus new ones, never over 300.
    assert.equal(now.reserved_count + now.confirmed_count, 300 - released + added.ok.length);
    assert.ok(now.reserved_count + now.confirmed_count <= 300);
    assert.equal(added.ok.length + (added.codes.get('usage_limit_reached') ?? 0), 300);
    await assertInvariants(h.store);
  });

  test('100 concurrent redemptions of one single-use coupon: exactly one', async () => {
    const h = await harness();
    const c = await activeCampaign(h);
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, { actor: 'k' });
    const { ok, codes } = await settle(
      Array.from({ length: 100 }, (_, i) =>
        h.engine.redeem({ user_id: 'u1', code: coupon.code, order: order({ id: `o${i}` }) }, { actor: 'k' }),
      ),
    );
    assert.equal(ok.length, 1);
    assert.equal(codes.get('coupon_already_redeemed'), 99);
    await assertInvariants(h.store);
  });
});

describe('a campaign batch that fails while writing', () => {
  test('is answered with its error, stays unwritten and is not announced; the batch beside it commits', async () => {
    const h = await harness();
    const shared = { code_mode: 'shared_code' as const, per_user_limit: null, max_redemptions: null };
    const a = await activeCampaign(h, { ...shared, code: 'GOODONE' });
    const b = await activeCampaign(h, { ...shared, code: 'BADONE' });
    const heard: string[] = [];
    h.engine.onCommit((c, confirmed) => heard.push(`${c.id}:${confirmed.length}`));
    // Campaign b's writes gain a second copy of a coupon it inserts, so they fail part-way.
    const store = h.store as SqliteStore;
    const runBatches = store.runBatches.bind(store);
    let together = 0;
    store.runBatches = (async (items: Array<BatchItem<unknown>>) => {
      if (items.length > 1) together++;
      return runBatches(
        items.map((item) =>
          item.campaign_id !== b.id
            ? item
            : {
                ...item,
                decide: (snap: BatchSnapshot) => {
                  const d = item.decide(snap);
                  const w = d.writes;
                  if (w) w.redemptions_insert = [...w.redemptions_insert, ...w.redemptions_insert.slice(0, 1)];
                  return d;
                },
              },
        ),
      );
    }) as typeof store.runBatches;
    const [ra, rb] = await Promise.allSettled([
      h.engine.redeem({ user_id: 'u1', code: 'GOODONE', order: order({ id: 'oa' }), confirm: true }, { actor: 'k' }),
      h.engine.redeem({ user_id: 'u1', code: 'BADONE', order: order({ id: 'ob' }), confirm: true }, { actor: 'k' }),
    ]);
    assert.equal(together, 1, 'both campaigns were in one commit');
    assert.equal(ra.status, 'fulfilled');
    assert.equal(rb.status, 'rejected');
    assert.match(String((rb as PromiseRejectedResult).reason), /UNIQUE|PRIMARY KEY/i);
    assert.deepEqual(heard, [`${a.id}:1`], 'listeners hear only the committed campaign');
    assert.equal((await h.store.getCampaign(a.id))?.spent_minor, 1000);
    assert.equal((await h.store.getCampaign(b.id))?.spent_minor, 0);
    await assertInvariants(h.store);
  });
});

describe('a batch the store decides twice', () => {
  test('only the last decision is announced, even when it changes nothing', async () => {
    const h = await harness();
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'TWICE', per_user_limit: null });
    const heard: number[] = [];
    const thrownAway: number[] = [];
    h.engine.onCommit((_, confirmed) => heard.push(confirmed.length));
    // As a retried transaction would: decide once (thrown away), then again after the campaign ended.
    const store = h.store as SqliteStore;
    const runBatches = store.runBatches.bind(store);
    store.runBatches = (async (items: Array<BatchItem<unknown>>) =>
      runBatches(
        items.map((item) => ({
          ...item,
          decide: (snap: BatchSnapshot) => {
            const first = item.decide(structuredClone(snap));
            thrownAway.push(first.writes?.redemptions_insert.length ?? 0);
            h.clock.advance(31 * 24 * 3600_000);
            return item.decide(snap);
          },
        })),
      )) as typeof store.runBatches;
    await rejects(
      h.engine.redeem({ user_id: 'u1', code: 'TWICE', order: order(), confirm: true }, { actor: 'k' }),
      'campaign_ended',
    );
    assert.deepEqual(thrownAway, [1], 'the thrown-away decision redeemed');
    assert.deepEqual(heard, [], 'nobody hears of the thrown-away decision');
    assert.equal((await h.store.getCampaign(c.id))?.spent_minor, 0);
    await assertInvariants(h.store);
  });
});

describe('commit listeners', () => {
  test('a listener that throws is logged; the committed redemption is answered and later listeners still hear', async () => {
    const logged: Array<{ msg: string; data: Record<string, unknown> }> = [];
    const h = await harness({ log: (msg, data) => logged.push({ msg, data }) });
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'LOUD', per_user_limit: null });
    const heard: number[] = [];
    h.engine.onCommit(() => {
      throw new Error('listener bug');
    });
    h.engine.onCommit((_, confirmed) => heard.push(confirmed.length));
    const r = await h.engine.redeem({ user_id: 'u1', code: 'LOUD', order: order(), confirm: true }, { actor: 'k' });
    assert.equal(r.status, 'confirmed');
    assert.deepEqual(heard, [1]);
    assert.deepEqual(logged, [
      { msg: 'commit listener failed', data: { campaign_id: c.id, error: 'Error: listener bug' } },
    ]);
    assert.equal((await h.engine.getCampaign(c.id)).confirmed_count, 1);
    await assertInvariants(h.store);
  });
});
