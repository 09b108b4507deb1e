import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Campaign } from '../../src/domain/campaign.ts';
import type { Coupon } from '../../src/domain/coupon.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order, t0 } from '../support/fixtures.ts';

describe('SQLite: several campaigns in one commit (runBatches)', () => {
  test('each campaign is isolated: a failing decide rolls back only its own writes', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const h = await harness({}, store);
    const a = await activeCampaign(h, { name: 'a' });
    const b = await activeCampaign(h, { name: 'b' });
    const none = () => ({ coupon_ids: [], redemption_ids: [], usage_keys: [], idempotency_keys: [] });
    const rename = (name: string) => (snap: { campaign: Campaign }) => ({
      writes: {
        campaign: { ...snap.campaign, name },
        coupons_insert: [],
        coupons_update: [],
        redemptions_insert: [],
        redemptions_update: [],
        usage_delta: new Map(),
        idempotency_insert: [],
        audit: [],
        outbox: [],
        bulk: [],
      },
      result: name,
    });
    const results = await store.runBatches([
      { campaign_id: a.id, load: none, decide: rename('a2') },
      {
        campaign_id: b.id,
        load: none,
        decide: (snap) => {
          rename('b2')(snap);
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
    const store = new SqliteStore({ path: ':memory:' });
    const h = await harness({}, store);
    const [a, b, c] = [
      await activeCampaign(h, { name: 'a' }),
      await activeCampaign(h, { name: 'b' }),
      await activeCampaign(h, { name: 'c' }),
    ];
    const none = () => ({ coupon_ids: [], redemption_ids: [], usage_keys: [], idempotency_keys: [] });
    const coupon = (campaign_id: string, id: string): Coupon => ({
      id,
      campaign_id,
      user_id: null,
      code: `CODE${id}`,
      kind: 'shared',
      status: 'active',
      expires_at_ms: t0 + 86_400_000,
      created_at_ms: t0,
      updated_at_ms: t0,
    });
    const decided = new Map<string, number>();
    // Renames the campaign (written first), then inserts coupons: `dup` inserts one id twice,
    // so the write fails after the campaign row and the first coupon are written.
    const write = (name: string, ids: string[]) => (snap: { campaign: Campaign }) => {
      decided.set(name, (decided.get(name) ?? 0) + 1);
      return {
        writes: {
          campaign: { ...snap.campaign, name },
          coupons_insert: ids.map((id) => coupon(snap.campaign.id, id)),
          coupons_update: [],
          redemptions_insert: [],
          redemptions_update: [],
          usage_delta: new Map(),
          idempotency_insert: [],
          audit: [],
          outbox: [],
          bulk: [],
        },
        result: name,
      };
    };
    const results = await store.runBatches([
      { campaign_id: a.id, load: none, decide: write('a2', ['cpn_a']) },
      { campaign_id: b.id, load: none, decide: write('b2', ['cpn_b', 'cpn_b']) },
      { campaign_id: c.id, load: none, decide: write('c2', ['cpn_c']) },
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

  test('a decide that throws needs no second pass: nothing was written for it', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const h = await harness({}, store);
    const a = await activeCampaign(h, { name: 'a' });
    const b = await activeCampaign(h, { name: 'b' });
    const none = () => ({ coupon_ids: [], redemption_ids: [], usage_keys: [], idempotency_keys: [] });
    let decides = 0;
    const results = await store.runBatches([
      {
        campaign_id: a.id,
        load: none,
        decide: (snap: { campaign: Campaign }) => {
          decides++;
          return { writes: null, result: snap.campaign.name };
        },
      },
      {
        campaign_id: b.id,
        load: none,
        decide: () => {
          decides++;
          throw new Error('boom');
        },
      },
    ]);
    assert.equal(results[0], 'a');
    assert.equal((results[1] as Error).message, 'boom');
    assert.equal(decides, 2);
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
