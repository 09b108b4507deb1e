import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Rejection } from '../../src/domain/errors.ts';
import { Engine } from '../../src/engine/engine.ts';
import { unpackOutbox } from '../../src/store/contract/builders.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { assertInvariants, day_ms, envelopeTerms, harness } from '../support/fixtures.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

const db = await createTestDatabase();
after(() => db?.drop());

const hour_ms = 3_600_000;

describe('red envelopes on PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const url = db.url;

  test('1,000 grabs through two engines on two pools: 100 winners, the exact total, one packet per user', async () => {
    // Two engines on two pools stand in for two API nodes: only the campaign row lock keeps them honest.
    const stores = [new PostgresStore({ url }), new PostgresStore({ url })] as const;
    const h = await harness({ batch_commands_max: 128 }, stores[0]);
    const other = await Engine.open(stores[1], { clock: h.clock, batch_commands_max: 128 });
    const engines = [h.engine, other];
    try {
      const coupon = { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 };
      const over = { total_minor: 20_000, min_amount_minor: 50, expires_at_ms: h.clock.now() + hour_ms, coupon };
      const c = await h.engine.envelopes.create(envelopeTerms(h, over), { actor: 'k' });
      const env_id = c.red_envelope?.id ?? '';
      // 900 distinct users, and 100 more who each try twice, once on each node.
      const tries = [
        ...Array.from({ length: 900 }, (_, i) => `u${i}`),
        ...Array.from({ length: 100 }, (_, i) => [`twice${i}`, `twice${i}`]).flat(),
      ];
      const settled = await Promise.allSettled(
        tries.map((user, i) => (engines[i % 2] ?? h.engine).envelopes.grab(env_id, user, { actor: 'k' })),
      );
      const won = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      const refused = new Map<string, number>();
      for (const s of settled) {
        if (s.status === 'fulfilled') continue;
        assert.ok(s.reason instanceof Rejection, `unexpected ${String(s.reason)}`);
        refused.set(s.reason.code, (refused.get(s.reason.code) ?? 0) + 1);
      }
      assert.equal(won.length, 100);
      assert.equal(
        won.reduce((sum, g) => sum + g.amount_minor, 0),
        20_000,
      );
      assert.equal(new Set(won.map((g) => g.coupon.user_id)).size, 100, 'no user holds two packets');
      assert.equal((refused.get('red_envelope_empty') ?? 0) + (refused.get('already_grabbed') ?? 0), 1000);
      const now = await h.engine.envelopes.get(env_id);
      assert.equal(now.red_envelope?.grabbed_minor, 20_000);
      await assertInvariants(stores[0]);

      h.clock.advance(hour_ms);
      // Both nodes sweep at once: the row lock lets one settle, the other finds nothing to do.
      await Promise.all(engines.map((e) => e.envelopes.expireEnvelopes()));
      const settledEnv = (await h.engine.envelopes.get(env_id)).red_envelope;
      assert.equal(settledEnv?.refunded_minor, 0, 'a fully grabbed envelope refunds nothing');
      assert.equal((await stores[1].dueRedEnvelopes(h.clock.now() + day_ms, 10)).length, 0);
      await assertInvariants(stores[1]);
    } finally {
      await Promise.all([h.engine.close(), other.close()]);
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('an envelope created active writes its campaign.activated in the creating transaction', async () => {
    const h = await harness({}, new PostgresStore({ url }));
    try {
      const c = await h.engine.envelopes.create(envelopeTerms(h, { total_minor: 4_000, count: 10 }), { actor: 'k' });
      const activated = unpackOutbox(await h.store.pendingOutbox(10_000)).filter(
        (e) => e.type === 'campaign.activated' && (e.data as { campaign_id: string }).campaign_id === c.id,
      );
      assert.deepEqual(
        activated.map((e) => e.data),
        [{ campaign_id: c.id, from: null, to: 'active', reason: null }],
      );
      await assertInvariants(h.store);
    } finally {
      await h.engine.close();
      await h.store.close();
    }
  });

  test('expiry on PostgreSQL refunds exactly the remainder once, swept from two nodes', async () => {
    const stores = [new PostgresStore({ url }), new PostgresStore({ url })] as const;
    const h = await harness({}, stores[0]);
    const other = await Engine.open(stores[1], { clock: h.clock });
    try {
      const c = await h.engine.envelopes.create(
        {
          currency: 'CNY',
          total_minor: 9_999,
          count: 50,
          min_amount_minor: 1,
          expires_at_ms: h.clock.now() + hour_ms,
          coupon: { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 },
        },
        { actor: 'k' },
      );
      const env_id = c.red_envelope?.id ?? '';
      const won = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : h.engine).envelopes.grab(env_id, `u${i}`, { actor: 'k' }),
        ),
      );
      const grabbed_minor = won.reduce((s, g) => s + g.amount_minor, 0);
      h.clock.advance(hour_ms);
      const counts = await Promise.all([h.engine.envelopes.expireEnvelopes(), other.envelopes.expireEnvelopes()]);
      assert.ok(counts.reduce((a, b) => a + b, 0) >= 1);
      const after = await other.envelopes.get(env_id);
      assert.equal(after.red_envelope?.refunded_minor, 9_999 - grabbed_minor);
      assert.equal(after.budget_minor, grabbed_minor);
      const expiries = (await stores[0].auditChain(c.id)).filter((e) => e.action === 'red_envelope.expired');
      assert.equal(expiries.length, 1, 'refunded and recorded once');
      await assertInvariants(stores[0]);
    } finally {
      await Promise.all([h.engine.close(), other.close()]);
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});
