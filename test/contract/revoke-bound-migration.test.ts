import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Incidents } from '../../src/engine/incidents/incidents.ts';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order } from '../support/fixtures.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

/**
 * Migration 090 carries the revocation bound of incidents opened before campaigns kept it (their
 * work state saved it) onto every campaign their scope resolved to, on each store: the rows are
 * made as such an incident left them (the campaign without revoke_through_id, the migration not
 * applied), then the store migrates again (SQLite as it opens, PostgreSQL with migrate()).
 */
interface Adapter {
  open: () => Store;
  /**
   * Raw SQL on the database, with the store closed: forgets the bound on every campaign and the
   * migration; answers how many campaigns still have one.
   */
  forget: () => Promise<number>;
}

const admin = { actor: 'key_admin' };
const who = { actor: 'key_checkout' };

async function carriesOver(a: Adapter): Promise<void> {
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

describe('migration 090: the revocation bound of earlier incidents onto their campaigns', () => {
  const root = mkdtempSync(join(tmpdir(), 'vs-revoke-bound-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('SQLite', () => {
    const path = join(root, 'vouchsafe.db');
    return carriesOver({
      open: () => new SqliteStore({ path, synchronous: 'NORMAL' }),
      forget: async () => {
        const db = new Database(path);
        db.prepare("UPDATE campaigns SET doc = json_remove(doc, '$.revoke_through_id')").run();
        db.prepare("DELETE FROM migrations_applied WHERE id = '090_campaign_revoke_bound'").run();
        const left = db.prepare("SELECT count(*) AS n FROM campaigns WHERE doc LIKE '%revoke_through_id%'").get();
        db.close();
        return Number((left as { n: number }).n);
      },
    });
  });

  test('PostgreSQL', async (t) => {
    const db = await createTestDatabase();
    if (!db) return t.skip(pg_unavailable_message);
    try {
      await carriesOver({
        open: () => new PostgresStore({ url: db.url }),
        forget: async () => {
          const client = new pg.Client({ connectionString: db.url });
          await client.connect();
          try {
            await client.query("UPDATE campaigns SET doc = (doc::jsonb - 'revoke_through_id')::text");
            await client.query("DELETE FROM migrations_applied WHERE id = '090_campaign_revoke_bound'");
            const left = await client.query("SELECT count(*) AS n FROM campaigns WHERE doc LIKE '%revoke_through_id%'");
            return Number(left.rows[0]?.n);
          } finally {
            await client.end();
          }
        },
      });
    } finally {
      await db.drop();
    }
  });
});
