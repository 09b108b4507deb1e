import assert from 'node:assert/strict';
import type { Store } from '../../src/store/port.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';
import { describeMigrationRerun, type MigrationAdapter } from '../support/migration-rerun.ts';

/**
 * Migration 120 revokes the coupons that a reversal with restore_coupon set active in a revoked
 * campaign before 3ef4101. The rows are made by the engine (which now leaves them revoked), set
 * back to what the older code left with raw SQL, and the store migrates again.
 */
const who = { actor: 'key_checkout' };
const admin = { actor: 'key_admin' };

async function statusOf(store: Store, coupon_id: string): Promise<string | undefined> {
  return (await store.getCoupon(coupon_id))?.status;
}

async function revokes(a: MigrationAdapter): Promise<void> {
  const h = await harness({}, a.open());
  const revoked = await activeCampaign(h);
  const live = await activeCampaign(h);
  const spent = await h.engine.claim({ campaign_id: revoked.id, user_id: 'u1' }, who);
  const unused = await h.engine.claim({ campaign_id: revoked.id, user_id: 'u2' }, who);
  const other = await h.engine.claim({ campaign_id: live.id, user_id: 'u1' }, who);
  const r = await h.engine.redeem({ user_id: 'u1', coupon_id: spent.id, order: order(), confirm: true }, who);
  await h.engine.campaignAction(revoked.id, 'revoke', admin, 'drill');
  await h.engine.reverse(r.id, true, who);
  assert.equal(await statusOf(h.store, spent.id), 'revoked', 'today the reversal leaves it revoked');
  await h.engine.close();
  await h.store.close();

  assert.equal(await a.forget(), 1, 'the older code left the reversed coupon active');
  const store = a.open();
  try {
    await store.migrate();
    assert.equal(await statusOf(store, spent.id), 'revoked');
    assert.equal(await statusOf(store, unused.id), 'revoked');
    assert.equal(await statusOf(store, other.id), 'active', "another campaign's coupons are left alone");
    await assertInvariants(store);
  } finally {
    await store.close();
  }
}

// What the older code left: the coupon of the reversal (the only redeemed-then-reversed one) active.
const undo = [
  `UPDATE coupons SET status = 'active' WHERE id IN (
     SELECT coupon_id FROM redemptions WHERE status = 'reversed')`,
  "DELETE FROM migrations_applied WHERE id = '120_revoked_campaign_coupons'",
];
const left = `SELECT count(*) AS n FROM coupons WHERE status = 'active'
  AND campaign_id IN (SELECT id FROM campaigns WHERE status = 'revoked')`;

describeMigrationRerun(
  'migration 120: coupons a reversal set active in a revoked campaign',
  { sqlite: { undo, left }, postgres: { undo, left } },
  revokes,
);
