import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { verifyStore } from '../../src/engine/verify.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';

const root = mkdtempSync(join(tmpdir(), 'vs-rules-history-'));
after(() => rmSync(root, { recursive: true, force: true }));

const who = { actor: 'key_checkout' };

test('rules tightened after redemptions: verify judges each redemption by the rules in force when it was made', async () => {
  const h = await harness();
  const c = await activeCampaign(h, { per_user_limit: null, product_kinds: ['merchandise', 'virtual'] });
  const first = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
  const early = order({ id: 'o-early', amount_minor: 6000, product_kind: 'merchandise' });
  await h.engine.redeem({ user_id: 'u1', coupon_id: first.id, order: early, confirm: true }, who);
  // Min spend raised past that order, and its product kind dropped: a tightening, no approval needed.
  const changed = await h.engine.updateCampaign(
    c.id,
    { min_spend_minor: 9000, product_kinds: ['virtual'] },
    { actor: 'key_maker' },
  );
  assert.equal(changed.status, 'active');
  const second = await h.engine.claim({ campaign_id: c.id, user_id: 'u2' }, who);
  const late = order({ id: 'o-late', amount_minor: 10_000, product_kind: 'virtual' });
  await h.engine.redeem({ user_id: 'u2', coupon_id: second.id, order: late, confirm: true }, who);
  await assertInvariants(h.store);
  await h.engine.close();
});

test('a redemption that broke the rules in force when it was made is reported, though later rules would admit it', async () => {
  const path = join(root, 'loosened.db');
  const store = new SqliteStore({ path });
  const h = await harness({}, store);
  const c = await activeCampaign(h, { per_user_limit: null });
  const coupon = await h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, who);
  const r = await h.engine.redeem(
    { user_id: 'u1', coupon_id: coupon.id, order: order({ amount_minor: 6000 }), confirm: true },
    who,
  );
  // Min spend lowered later (a risky change: back to approval), to 3,000.
  await h.engine.updateCampaign(c.id, { min_spend_minor: 3000 }, { actor: 'key_maker' });
  await assertInvariants(store);
  await h.engine.close();
  await store.close();
  // The order amount edited below the 5,000 minimum in force when it was redeemed, above the later 3,000.
  const db = new Database(path);
  db.prepare('UPDATE redemptions SET order_amount_minor = 4000 WHERE id = ?').run(r.id);
  db.close();
  const again = new SqliteStore({ path });
  const report = await verifyStore(again);
  await again.close();
  assert.deepEqual(
    report.violations.map((v) => [v.invariant, v.detail]),
    [['5', `${r.id} below min spend`]],
  );
});

test('a discount above what its rule gives the order, and an order in another currency, are reported', async () => {
  const path = join(root, 'over-rule.db');
  const store = new SqliteStore({ path });
  const h = await harness({}, store);
  const discount = { type: 'percent' as const, percent_bp: 1000, max_discount_minor: 3000 };
  const c = await activeCampaign(h, { per_user_limit: null, discount });
  const redeem = async (user_id: string) => {
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id }, who);
    const o = order({ amount_minor: 20_000 });
    return h.engine.redeem({ user_id, coupon_id: coupon.id, order: o, confirm: true }, who);
  };
  const over = await redeem('u1');
  const foreign = await redeem('u2');
  assert.equal(over.discount_minor, 2000);
  await assertInvariants(store);
  await h.engine.close();
  await store.close();
  // 10% of 8,000 is 800, not the 2,000 kept (the amount is not in the chain; a release that computed
  // too much would leave the same rows); and a currency the campaign does not take.
  const db = new Database(path);
  db.prepare('UPDATE redemptions SET order_amount_minor = 8000 WHERE id = ?').run(over.id);
  db.prepare("UPDATE redemptions SET currency = 'USD' WHERE id = ?").run(foreign.id);
  db.close();
  const again = new SqliteStore({ path });
  const report = await verifyStore(again);
  await again.close();
  assert.deepEqual(
    report.violations.map((v) => [v.invariant, v.detail]),
    [
      ['5', `${over.id} discount 2000 > 800 its rule gives the order`],
      ['5', `${foreign.id} is in USD, its campaign in CNY`],
    ],
  );
});
