import assert from 'node:assert/strict';
import { Engine } from '../../src/engine/engine.ts';
import type { Store } from '../../src/store/port.ts';
import { activeCampaign, assertInvariants, harness, order, rejects } from '../support/fixtures.ts';
import { describeMigrationRerun, type MigrationAdapter } from '../support/migration-rerun.ts';

/**
 * Migration 100 counts the live redemptions of every order (one discount per order and campaign)
 * for rows stored before the rule: the rows are made by the engine, their order counters and the
 * migration are then forgotten with raw SQL, and the store migrates again. The rebuilt counters
 * must be the ones the engine wrote, key for key (order ids outside ASCII or holding `:` or `%` included).
 */
const who = { actor: 'key_checkout' };

const liveOrderCounters = async (store: Store, campaign_id: string) =>
  Object.fromEntries([...(await store.usageCounts(campaign_id))].filter(([k, n]) => k.startsWith('order:') && n > 0));

async function rebuilds(a: MigrationAdapter): Promise<void> {
  const h = await harness({}, a.open());
  const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'ONCE100', per_user_limit: null });
  const redeem = (id: string, merchant_id = 'm1', confirm = true) =>
    h.engine.redeem({ user_id: 'u1', code: 'ONCE100', order: order({ id, merchant_id }), confirm }, who);
  await redeem('订单-7');
  await redeem('o:1', 'm1');
  await redeem('o:1', 'm:2');
  await redeem('50%:off', 'm1');
  await redeem('held', 'm1', false);
  await h.engine.release((await redeem('released', 'm1', false)).id, who);
  await h.engine.reverse((await redeem('reversed')).id, false, who);
  const written = await liveOrderCounters(h.store, c.id);
  assert.equal(Object.keys(written).length, 5);
  await h.engine.close();
  await h.store.close();

  assert.equal(await a.forget(), 0, 'no order counter left, as before 100');
  const store = a.open();
  try {
    await store.migrate();
    assert.deepEqual(await liveOrderCounters(store, c.id), written);
    await assertInvariants(store);
    const engine = await Engine.open(store, { clock: h.clock });
    try {
      const again = { user_id: 'u2', code: 'ONCE100', order: order({ id: '订单-7' }) };
      await rejects(engine.redeem(again, who), 'coupon_already_redeemed');
      await engine.redeem({ ...again, order: order({ id: 'reversed' }) }, who);
    } finally {
      await engine.close();
    }
  } finally {
    await store.close();
  }
}

const undo = [
  "DELETE FROM usage WHERE key LIKE 'order:%'",
  "DELETE FROM migrations_applied WHERE id = '100_order_usage'",
];
const left = "SELECT count(*) AS n FROM usage WHERE key LIKE 'order:%'";

describeMigrationRerun(
  'migration 100: order counters for redemptions stored before one discount per order',
  { sqlite: { undo, left }, postgres: { undo, left } },
  rebuilds,
);
