import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Rejection } from '../../src/domain/errors.ts';
import { Engine } from '../../src/engine/engine.ts';
import { exposureView } from '../../src/http/exposure-view.ts';
import { StoreUnavailable } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { activeCampaign, assertInvariants, harness, order, rejects } from '../support/fixtures.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

const db = await createTestDatabase();
after(() => db?.drop());

const redemptions = 2000;
const discount_minor = 1000;
const winners = 500;

describe('engine on PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const url = db.url;

  test(`${redemptions} concurrent redemptions from two engines (two pools): exactly ${winners} succeed`, async (t) => {
    // Two engines on two pools stand in for two API nodes: only the campaign row lock keeps them honest.
    // A generous connect timeout: this test is about the row lock, and a loaded machine connects slowly.
    const stores = [
      new PostgresStore({ url, connect_timeout_ms: 60_000 }),
      new PostgresStore({ url, connect_timeout_ms: 60_000 }),
    ] as const;
    const h = await harness({ batch_commands_max: 256 }, stores[0]);
    const other = await Engine.open(stores[1], {
      clock: h.clock,
      batch_commands_max: 256,
      approval_threshold_minor: Number.MAX_SAFE_INTEGER,
    });
    try {
      const c = await activeCampaign(h, {
        code_mode: 'shared_code',
        code: 'PGRUSH',
        discount: { type: 'fixed', amount_minor: discount_minor },
        budget_minor: winners * discount_minor,
        max_redemptions: null,
        per_user_limit: null,
      });
      assert.equal(c.status, 'active');
      const engines = [h.engine, other];
      const started_ms = performance.now();
      const settled = await Promise.allSettled(
        Array.from({ length: redemptions }, (_, i) =>
          (engines[i % 2] ?? h.engine).redeem(
            { user_id: `u${i}`, code: 'PGRUSH', order: order({ id: `o${i}` }), confirm: true },
            { actor: 'key_checkout' },
          ),
        ),
      );
      const elapsed_ms = performance.now() - started_ms;
      t.diagnostic(`${redemptions} redemptions on PostgreSQL in ${elapsed_ms.toFixed(0)} ms`);
      const ok = settled.filter((s) => s.status === 'fulfilled');
      const refused = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason] : []));
      assert.equal(ok.length, winners);
      for (const e of refused)
        assert.ok(e instanceof Rejection && e.code === 'budget_exhausted', `unexpected ${String(e)}`);
      const now = await h.engine.getCampaign(c.id);
      assert.equal(now.spent_minor, winners * discount_minor);
      assert.equal(now.reserved_minor, 0);
      assert.equal(now.confirmed_count, winners);
      await assertInvariants(stores[0]);
    } finally {
      await Promise.all([h.engine.close(), other.close()]);
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('a velocity limit set on one node holds at once for redemptions on another that has the campaign cached', async () => {
    // Node B cached the campaign without velocity limits (its CampaignCache, fresh for a second);
    // node A then sets one. B's next redemptions must be counted against it, as the locked row says.
    const stores = [new PostgresStore({ url }), new PostgresStore({ url })] as const;
    const a = await harness({}, stores[0]);
    const b = await Engine.open(stores[1], { clock: a.clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
    try {
      const c = await activeCampaign(a, {
        code_mode: 'shared_code',
        code: 'PGVELO',
        per_user_limit: null,
        max_redemptions: null,
        velocity: null,
      });
      const who = { actor: 'key_checkout' };
      const redeemOn = (e: Engine, user_id: string) =>
        e.redeem({ user_id, code: 'PGVELO', order: order(), confirm: true }, who);
      await redeemOn(b, 'u0');
      const changed = await a.engine.updateCampaign(
        c.id,
        { velocity: { per_user_per_minute: 1 } },
        { actor: 'key_maker' },
      );
      assert.equal(changed.status, 'active', 'a tighter limit needs no approval');
      await redeemOn(b, 'u1');
      await rejects(redeemOn(b, 'u1'), 'rate_limited');
      // Both nodes count in the same windows from now on (here: each node's own counters, one clock).
      await redeemOn(a.engine, 'u2');
      await rejects(redeemOn(a.engine, 'u2'), 'rate_limited');
      const now = await a.engine.getCampaign(c.id);
      assert.equal(now.confirmed_count, 3);
      await assertInvariants(stores[0]);
    } finally {
      await Promise.all([a.engine.close(), b.close()]);
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('a batch that waits past the lock limit for its campaign row fails as store_unavailable and commits nothing', async () => {
    // Another process holds the campaign row (a stalled node inside its transaction). Without a
    // lock limit the redemption would wait as long as that process does, holding its connection.
    const store = new PostgresStore({ url, lock_wait_ms_max: 200 });
    const h = await harness({}, store);
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    try {
      const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'PGLOCK', per_user_limit: null });
      await blocker.query('BEGIN');
      await blocker.query('SELECT doc FROM campaigns WHERE id = $1 FOR UPDATE', [c.id]);
      const attempt = h.engine.redeem(
        { user_id: 'u1', code: 'PGLOCK', order: order({ id: 'o1' }), confirm: true },
        { actor: 'key_checkout' },
      );
      // The blocker lets go once the attempt has answered; the bound only keeps a waiting attempt from hanging the test.
      const outcome = await Promise.race([
        attempt.then(
          () => 'redeemed',
          (e: unknown) => e,
        ),
        sleep(5_000).then(() => 'still waiting'),
      ]);
      await blocker.query('COMMIT');
      await attempt.catch(() => undefined);
      assert.ok(outcome instanceof StoreUnavailable, `expected StoreUnavailable, got ${String(outcome)}`);
      assert.equal((await h.engine.getCampaign(c.id)).spent_minor, 0);
      const r = await h.engine.redeem(
        { user_id: 'u1', code: 'PGLOCK', order: order({ id: 'o1' }), confirm: true },
        { actor: 'key_checkout' },
      );
      assert.equal(r.status, 'confirmed');
      assert.equal((await h.engine.getCampaign(c.id)).spent_minor, r.discount_minor);
      await assertInvariants(store);
    } finally {
      await blocker.end();
      await h.engine.close();
      await store.close();
    }
  });

  test('holds released past 2^53 in all leave exposure and verify readable', async () => {
    const store = new PostgresStore({ url });
    const h = await harness({}, store);
    try {
      const big = 2 ** 52 + 1;
      const c = await activeCampaign(h, {
        code_mode: 'shared_code',
        code: 'PGHUGE',
        discount: { type: 'fixed', amount_minor: big },
        min_spend_minor: 0,
        budget_minor: Number.MAX_SAFE_INTEGER,
        max_redemptions: null,
        per_user_limit: null,
      });
      const who = { actor: 'key_checkout' };
      for (let i = 0; i < 3; i++) {
        const huge = order({ amount_minor: Number.MAX_SAFE_INTEGER });
        const r = await h.engine.redeem({ user_id: `u${i}`, code: 'PGHUGE', order: huge }, who);
        await h.engine.release(r.id, who);
      }
      const kept = await h.engine.redeem({ user_id: 'u3', code: 'PGHUGE', order: order(), confirm: true }, who);
      const exposure = await exposureView(store, c.id);
      assert.deepEqual(
        [exposure.spent_minor, exposure.counts.released, exposure.by_merchant],
        [kept.discount_minor, 3, [{ merchant_id: 'm1', count: 1, discount_minor: kept.discount_minor }]],
      );
      await assertInvariants(store);
    } finally {
      await h.engine.close();
      await store.close();
    }
  });
});
