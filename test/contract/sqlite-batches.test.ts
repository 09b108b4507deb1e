import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Campaign } from '../../src/domain/campaign.ts';
import type { Coupon } from '../../src/domain/coupon.ts';
import { emptyLoad, emptyWrites } from '../../src/store/contract/builders.ts';
import type { BatchWrites } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order, t0 } from '../support/fixtures.ts';

const none = () => emptyLoad();

/** A SQLite store in memory with three active campaigns named a, b and c. */
async function threeCampaigns() {
  const store = new SqliteStore({ path: ':memory:' });
  const h = await harness({}, store);
  const [a, b, c] = [
    await activeCampaign(h, { name: 'a' }),
    await activeCampaign(h, { name: 'b' }),
    await activeCampaign(h, { name: 'c' }),
  ];
  return { store, a, b, c };
}

function coupon(campaign_id: string, id: string): Coupon {
  return {
    id,
    campaign_id,
    user_id: null,
    code: `CODE${id}`,
    kind: 'shared',
    status: 'active',
    expires_at_ms: t0 + 86_400_000,
    created_at_ms: t0,
    updated_at_ms: t0,
  };
}

/** A batch's writes: the campaign renamed (written first), then these coupons inserted. */
function renamed(campaign: Campaign, name: string, coupon_ids: string[] = []): BatchWrites {
  return {
    ...emptyWrites({ ...campaign, name }),
    coupons_insert: coupon_ids.map((id) => coupon(campaign.id, id)),
  };
}

/** Decides to rename the campaign and insert these coupons (an id twice: the write fails part-way). */
const write = (name: string, coupon_ids: string[]) => (snap: { campaign: Campaign }) => ({
  writes: renamed(snap.campaign, name, coupon_ids),
  result: name,
});

describe('SQLite: several campaigns in one commit (runBatches)', () => {
  test('each campaign is isolated: a failing decide rolls back only its own writes', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const h = await harness({}, store);
    const a = await activeCampaign(h, { name: 'a' });
    const b = await activeCampaign(h, { name: 'b' });
    const results = await store.runBatches([
      { campaign_id: a.id, load: none, decide: write('a2', []) },
      {
        campaign_id: b.id,
        load: none,
        decide: (snap) => {
          write('b2', [])(snap);
          throw new Error('boom');
        },
      },
    ]);
    assert.equal(results[0], 'a2');
    assert.ok(results[1] instanceof Error);
    assert.equal((await store.getCampaign(a.id))?.name, 'a2');
    assert.equal((await store.getCampaign(b.id))?.name, 'b');
  });

  test('a write that fails part-way rolls back only its own campaign, before and after the others', async () => {
    const { store, a, b, c } = await threeCampaigns();
    const decided = new Map<string, number>();
    // b's write fails after its campaign row and its first coupon are written.
    const counted = (name: string, ids: string[]) => (snap: { campaign: Campaign }) => {
      decided.set(name, (decided.get(name) ?? 0) + 1);
      return write(name, ids)(snap);
    };
    const results = await store.runBatches([
      { campaign_id: a.id, load: none, decide: counted('a2', ['cpn_a']) },
      { campaign_id: b.id, load: none, decide: counted('b2', ['cpn_b', 'cpn_b']) },
      { campaign_id: c.id, load: none, decide: counted('c2', ['cpn_c']) },
    ]);
    assert.equal(results[0], 'a2');
    assert.ok(results[1] instanceof Error, 'the failing campaign is answered with its error');
    assert.match(String((results[1] as Error).message), /UNIQUE|PRIMARY KEY/i);
    assert.equal(results[2], 'c2');
    assert.equal((await store.getCampaign(a.id))?.name, 'a2');
    assert.equal((await store.getCampaign(b.id))?.name, 'b', 'none of the failing batch stays');
    assert.equal((await store.getCampaign(c.id))?.name, 'c2');
    assert.ok(await store.getCoupon('cpn_a'));
    assert.equal(await store.getCoupon('cpn_b'), null);
    assert.ok(await store.getCoupon('cpn_c'));
    // The first pass stopped at the failed write and rolled back whole; then every batch was
    // decided again, each isolated.
    assert.deepEqual(Object.fromEntries(decided), { a2: 2, b2: 2, c2: 1 });
  });

  test('an error that makes SQLite roll back the whole transaction rejects every batch and stores none', async () => {
    // SQLite ends the transaction by itself on I/O errors, a full disk or no memory; simulated
    // here by a load that rolls back and throws, in the first pass and in the rerun.
    for (const pass of ['first', 'rerun'] as const) {
      const { store, a, b, c } = await threeCampaigns();
      const inside = store as unknown as {
        db: { exec(sql: string): void };
        loadSnapshot(id: string, load: unknown): unknown;
      };
      const loadSnapshot = inside.loadSnapshot.bind(store);
      let loadsOfC = 0;
      inside.loadSnapshot = (id, load) => {
        if (id === c.id && ++loadsOfC === 1) {
          inside.db.exec('ROLLBACK');
          throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
        }
        return loadSnapshot(id, load);
      };
      const calls = store.runBatches([
        { campaign_id: a.id, load: none, decide: write('a2', ['cpn_a']) },
        // A write failing part-way here stops the first pass before c, so c is loaded in the rerun.
        { campaign_id: b.id, load: none, decide: write('b2', pass === 'first' ? ['cpn_b'] : ['cpn_b', 'cpn_b']) },
        { campaign_id: c.id, load: none, decide: write('c2', ['cpn_c']) },
      ]);
      await assert.rejects(calls, /disk I\/O error/);
      assert.equal(loadsOfC, 1);
      const names = await Promise.all([a, b, c].map(async (x) => (await store.getCampaign(x.id))?.name));
      assert.deepEqual(names, ['a', 'b', 'c'], `aborted in the ${pass} pass: nothing stored`);
      for (const id of ['cpn_a', 'cpn_b', 'cpn_c']) assert.equal(await store.getCoupon(id), null);
      // The store goes on: the next call commits.
      assert.deepEqual(await store.runBatches([{ campaign_id: a.id, load: none, decide: write('a3', []) }]), ['a3']);
    }
  });

  test('a decide that throws after others wrote is answered alone: they commit, decided once', async () => {
    const { store, a, b, c } = await threeCampaigns();
    let decides = 0;
    const once = (name: string) => (snap: { campaign: Campaign }) => {
      decides++;
      return write(name, [`cpn_${name}`])(snap);
    };
    const results = await store.runBatches([
      { campaign_id: a.id, load: none, decide: once('a2') },
      {
        campaign_id: b.id,
        load: none,
        decide: () => {
          decides++;
          throw new Error('boom');
        },
      },
      { campaign_id: c.id, load: none, decide: once('c2') },
    ]);
    assert.equal(results[0], 'a2');
    assert.equal((results[1] as Error).message, 'boom');
    assert.equal(results[2], 'c2');
    assert.deepEqual(await Promise.all([a, b, c].map(async (x) => (await store.getCampaign(x.id))?.name)), [
      'a2',
      'b',
      'c2',
    ]);
    assert.ok(await store.getCoupon('cpn_a2'));
    assert.ok(await store.getCoupon('cpn_c2'));
    assert.equal(decides, 3, 'a refused decision wrote nothing, so nothing ran twice');
  });

  test('redemptions across many campaigns at once keep every invariant', async () => {
    const h = await harness();
    const codes: string[] = [];
    for (let i = 0; i < 40; i++) {
      await activeCampaign(h, {
        code_mode: 'shared_code',
        code: `MANY${i}`,
        per_user_limit: null,
        budget_minor: 5000,
        max_redemptions: null,
      });
      codes.push(`MANY${i}`);
    }
    const tries = await Promise.allSettled(
      Array.from({ length: 800 }, (_, i) =>
        h.engine.redeem(
          { user_id: `u${i}`, code: codes[i % codes.length] ?? '', order: order({ id: `o${i}` }), confirm: true },
          { actor: 'k' },
        ),
      ),
    );
    // Budget 5,000 = 5 discounts of 1,000 per campaign: exactly 5 x 40 succeed.
    assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 200);
    await assertInvariants(h.store);
  });
});
