import assert from 'node:assert/strict';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';
import { describeMigrationRerun, type MigrationAdapter } from '../support/migration-rerun.ts';

/**
 * Migration 090 carries the revocation bound of incidents opened before campaigns kept it (their
 * work state saved it) onto every campaign their scope resolved to, on each store: the rows are
 * made as such an incident left them (the campaign without revoke_through_id, the migration not
 * applied), then the store migrates again (SQLite as it opens, PostgreSQL with migrate()).
 */
const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };

async function carriesOver(a: MigrationAdapter): Promise<void> {
  const h = await harness({}, a.open());
  const revoked = await activeCampaign(h, { max_redemptions: 1000 });
  const all_redeemed = await activeCampaign(h, { max_redemptions: 1000 });
  const frozen_only = await activeCampaign(h, { max_redemptions: 1000 });
  for (const [i, c] of [revoked, all_redeemed, frozen_only].entries()) {
    const coupon = await h.engine.claim({ campaign_id: c.id, user_id: `u${i}` }, who);
    const o = order({ id: `o${i}` });
    await h.engine.redeem({ user_id: `u${i}`, coupon_id: coupon.id, order: o, confirm: true }, who);
  }
  await h.engine.claim({ campaign_id: revoked.id, user_id: 'idle' }, who);
  const incidents = new Incidents(h.engine);
  const scope = (ids: string[]) => ({ campaign_ids: ids, merchant_ids: null, from_ms: null, to_ms: null });
  const inc = await incidents.open(
    { title: 'old', scope: scope([revoked.id, all_redeemed.id]), actions: ['revoke_unredeemed'] },
    admin,
  );
  await incidents.open(
    { title: 'freeze only', scope: scope([frozen_only.id]), actions: ['freeze_redemptions'] },
    admin,
  );
  const bound = inc.work.revoke_through_id;
  assert.ok(bound);
  assert.equal(inc.report?.revoked_coupons, 1);
  for (const c of [revoked, all_redeemed]) assert.equal((await h.engine.getCampaign(c.id)).revoke_through_id, bound);
  assert.equal((await h.engine.getCampaign(frozen_only.id)).revoke_through_id, undefined);
  await h.engine.close();
  await h.store.close();

  assert.equal(await a.forget(), 0, 'no campaign keeps a bound, as before 090');
  const store = a.open();
  try {
    await store.migrate();
    for (const c of [revoked, all_redeemed]) assert.equal((await store.getCampaign(c.id))?.revoke_through_id, bound);
    const untouched = await store.getCampaign(frozen_only.id);
    assert.equal(untouched?.revoke_through_id, undefined, 'an incident that revoked nothing there leaves it alone');
    assert.equal(untouched?.budget_minor, frozen_only.budget_minor);
    await assertInvariants(store);
  } finally {
    await store.close();
  }
}

describeMigrationRerun(
  'migration 090: the revocation bound of earlier incidents onto their campaigns',
  {
    sqlite: {
      undo: [
        "UPDATE campaigns SET doc = json_remove(doc, '$.revoke_through_id')",
        "DELETE FROM migrations_applied WHERE id = '090_campaign_revoke_bound'",
      ],
      left: "SELECT count(*) AS n FROM campaigns WHERE doc LIKE '%revoke_through_id%'",
    },
    postgres: {
      undo: [
        "UPDATE campaigns SET doc = (doc::jsonb - 'revoke_through_id')::text",
        "DELETE FROM migrations_applied WHERE id = '090_campaign_revoke_bound'",
      ],
      left: "SELECT count(*) AS n FROM campaigns WHERE doc LIKE '%revoke_through_id%'",
    },
  },
  carriesOver,
);
