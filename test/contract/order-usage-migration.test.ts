import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Engine } from '../../src/engine/engine.ts';
import type { Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, harness, order, rejects } from '../support/fixtures.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

/**
 * Migration 100 counts the live redemptions of every order (one discount per order and campaign)
 * for rows stored before the rule: the rows are made by the engine, their order counters and the
 * migration are then forgotten with raw SQL, and the store migrates again. The rebuilt counters
 * must be the ones the engine wrote, key for key (order ids outside ASCII or holding `:` or `%` included).
 */
interface Adapter {
  open: () => Store;
  /** Raw SQL with the store closed: drops the order counters and the migration; answers how many are left. */
  forget: () => Promise<number>;
}

const who = { actor: 'key_checkout' };

const liveOrderCounters = async (store: Store, campaign_id: string) =>
  Object.fromEntries([...(await store.usageCounts(campaign_id))].filter(([k, n]) => k.startsWith('order:') && n > 0));

async function rebuilds(a: Adapter): Promise<void> {
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

describe('migration 100: order counters for redemptions stored before one discount per order', () => {
  const root = mkdtempSync(join(tmpdir(), 'vs-order-usage-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('SQLite', () => {
    const path = join(root, 'vouchsafe.db');
    return rebuilds({
      open: () => new SqliteStore({ path, synchronous: 'NORMAL' }),
      forget: async () => {
        const db = new Database(path);
        db.prepare("DELETE FROM usage WHERE key LIKE 'order:%'").run();
        db.prepare("DELETE FROM migrations_applied WHERE id = '100_order_usage'").run();
        const left = db.prepare("SELECT count(*) AS n FROM usage WHERE key LIKE 'order:%'").get();
        db.close();
        return Number((left as { n: number }).n);
      },
    });
  });

  test('PostgreSQL', async (t) => {
    const db = await createTestDatabase();
    if (!db) return t.skip(pg_unavailable_message);
    try {
      await rebuilds({
        open: () => new PostgresStore({ url: db.url }),
        forget: async () => {
          const client = new pg.Client({ connectionString: db.url });
          await client.connect();
          try {
            await client.query("DELETE FROM usage WHERE key LIKE 'order:%'");
            await client.query("DELETE FROM migrations_applied WHERE id = '100_order_usage'");
            const left = await client.query("SELECT count(*) AS n FROM usage WHERE key LIKE 'order:%'");
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
