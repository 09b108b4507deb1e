import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Campaign } from '../../src/domain/campaign.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';

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
