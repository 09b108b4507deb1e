import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { limits } from '../../src/config/limits.ts';
import { Rejection } from '../../src/domain/errors.ts';
import type { RedEnvelopeTerms } from '../../src/domain/red-envelope-campaign.ts';
import type { Engine } from '../../src/engine/engine.ts';
import type { GrabResult } from '../../src/engine/red-envelope-handlers.ts';
import { verifyStore } from '../../src/engine/verify.ts';
import { settle_grace_ms } from '../../src/engine/verify-red-envelopes.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { assertInvariants, day_ms, envelopeTerms, harness, order, rejects } from '../support/fixtures.ts';

const hour_ms = 3_600_000;

/** Fires every grab at once and sorts the answers: winners, and refusals by code. */
export async function stampede(engine: Engine, envelope_id: string, users: string[]) {
  const settled = await Promise.allSettled(users.map((u) => engine.envelopes.grab(envelope_id, u, { actor: 'k' })));
  const won: GrabResult[] = [];
  const refused = new Map<string, number>();
  for (const s of settled) {
    if (s.status === 'fulfilled') won.push(s.value);
    else {
      assert.ok(s.reason instanceof Rejection, `unexpected error ${String(s.reason)}`);
      refused.set(s.reason.code, (refused.get(s.reason.code) ?? 0) + 1);
    }
  }
  return { won, refused };
}

const users = (n: number, prefix = 'u') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('red envelopes in the engine', () => {
  test('1,000 concurrent grabs of 100 packets: exactly 100 winners summing to the total, 900 empty', async () => {
    const h = await harness({ batch_commands_max: 64 });
    const c = await h.engine.envelopes.create(envelopeTerms(h, { total_minor: 8_888, count: 100 }), { actor: 'k' });
    const env_id = c.red_envelope?.id ?? '';
    const { won, refused } = await stampede(h.engine, env_id, users(1000));
    assert.equal(won.length, 100);
    assert.deepEqual([...refused], [['red_envelope_empty', 900]]);
    assert.equal(
      won.reduce((sum, g) => sum + g.amount_minor, 0),
      8_888,
    );
    assert.equal(new Set(won.map((g) => g.coupon.user_id)).size, 100, 'one packet per user');
    for (const g of won) {
      assert.ok(g.amount_minor >= 1);
      assert.equal(g.coupon.value_minor, g.amount_minor);
      assert.equal(g.coupon.campaign_id, c.id);
    }
    const after = await h.engine.envelopes.get(env_id);
    assert.equal(after.red_envelope?.grabbed_count, 100);
    assert.equal(after.red_envelope?.grabbed_minor, 8_888);
    assert.equal(after.claimed_count, 100);
    await assertInvariants(h.store);
  });

  test('a second grab by the same user is already_grabbed, even in the same batch', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(envelopeTerms(h, { count: 10, total_minor: 4_000 }), { actor: 'k' });
    const env_id = c.red_envelope?.id ?? '';
    const { won, refused } = await stampede(h.engine, env_id, ['same', 'same', 'same', 'other']);
    assert.equal(won.length, 2);
    assert.deepEqual([...refused], [['already_grabbed', 2]]);
    await rejects(h.engine.envelopes.grab(env_id, 'same', { actor: 'k' }), 'already_grabbed');
    await assertInvariants(h.store);
  });

  test('the user who grabbed hears already_grabbed, not empty, once the envelope is empty', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(envelopeTerms(h, { count: 1, total_minor: 500 }), { actor: 'k' });
    const env_id = c.red_envelope?.id ?? '';
    const first = await h.engine.envelopes.grab(env_id, 'u1', { actor: 'k' });
    assert.equal(first.amount_minor, 500, 'a single packet is the whole total');
    await rejects(h.engine.envelopes.grab(env_id, 'u1', { actor: 'k' }), 'already_grabbed');
    await rejects(h.engine.envelopes.grab(env_id, 'u2', { actor: 'k' }), 'red_envelope_empty');
  });

  test('grabbed coupons redeem for min(value, order) and stay owner-bound', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(
      envelopeTerms(h, { count: 2, total_minor: 2_000, min_amount_minor: 1_000 }),
      {
        actor: 'k',
      },
    );
    const env_id = c.red_envelope?.id ?? '';
    const a = await h.engine.envelopes.grab(env_id, 'a', { actor: 'k' });
    const b = await h.engine.envelopes.grab(env_id, 'b', { actor: 'k' });
    assert.equal(a.amount_minor + b.amount_minor, 2_000);
    assert.equal(a.amount_minor, 1_000, 'min = mean leaves no room: every packet is the minimum');
    const small = await h.engine.redeem(
      { user_id: 'a', code: a.coupon.code, order: order({ id: 'o-a', amount_minor: 400 }), confirm: true },
      { actor: 'k' },
    );
    assert.equal(small.discount_minor, 400, 'never more than the order');
    const big = await h.engine.redeem(
      { user_id: 'b', coupon_id: b.coupon.id, order: order({ id: 'o-b', amount_minor: 50_000 }) },
      { actor: 'k' },
    );
    assert.equal(big.discount_minor, 1_000, 'never more than the packet');
    await rejects(
      h.engine.redeem({ user_id: 'b', coupon_id: a.coupon.id, order: order({ id: 'o-x' }) }, { actor: 'k' }),
      'coupon_not_eligible_user',
    );
    await rejects(
      h.engine.redeem({ user_id: 'a', coupon_id: a.coupon.id, order: order({ id: 'o-y' }) }, { actor: 'k' }),
      'coupon_already_redeemed',
    );
    const spent = await h.engine.getCampaign(c.id);
    assert.equal(spent.spent_minor, 400);
    assert.equal(spent.reserved_minor, 1_000);
    await assertInvariants(h.store);
  });

  test('expiry refunds exactly the remainder, once, and invariants hold with redeemed coupons', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(
      envelopeTerms(h, { total_minor: 4_000, count: 10, expires_at_ms: h.clock.now() + hour_ms }),
      {
        actor: 'k',
      },
    );
    const env_id = c.red_envelope?.id ?? '';
    const { won } = await stampede(h.engine, env_id, users(4));
    const grabbed_minor = won.reduce((s, g) => s + g.amount_minor, 0);
    const [first, second] = won;
    assert.ok(first && second);
    await h.engine.redeem(
      {
        user_id: first.coupon.user_id ?? '',
        coupon_id: first.coupon.id,
        order: order({ amount_minor: 100_000 }),
        confirm: true,
      },
      { actor: 'k' },
    );
    await h.engine.redeem(
      {
        user_id: second.coupon.user_id ?? '',
        coupon_id: second.coupon.id,
        order: order({ id: 'o2', amount_minor: 100_000 }),
      },
      { actor: 'k' },
    );
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 0, 'nothing is due before expiry');
    h.clock.advance(hour_ms);
    await rejects(h.engine.envelopes.grab(env_id, 'late', { actor: 'k' }), 'red_envelope_expired');
    // Not yet refunded, and verify told the time within the grace says so without a violation.
    assert.equal((await verifyStore(h.store, undefined, { now_ms: h.clock.now() })).ok, true);
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 1);
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 0, 'settled once');
    const after = await h.engine.envelopes.get(env_id);
    assert.equal(after.red_envelope?.refunded_minor, 4_000 - grabbed_minor);
    assert.equal(after.red_envelope?.settled_at_ms, h.clock.now());
    assert.equal(after.budget_minor, grabbed_minor);
    // The coupons grabbed before expiry follow their own ttl and stay payable.
    const third = won[2];
    assert.ok(third);
    const late = await h.engine.redeem(
      {
        user_id: third.coupon.user_id ?? '',
        coupon_id: third.coupon.id,
        order: order({ id: 'o3', amount_minor: 100_000 }),
        confirm: true,
      },
      { actor: 'k' },
    );
    assert.equal(late.discount_minor, third.amount_minor);
    const chain = await h.store.auditChain(c.id);
    assert.ok(chain.some((e) => e.action === 'red_envelope.expired' && e.subject === env_id));
    assert.deepEqual((await verifyStore(h.store, undefined, { now_ms: h.clock.now() + day_ms })).violations, []);
  });

  test('an expired envelope left unrefunded past the grace is a verify violation', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(envelopeTerms(h, { expires_at_ms: h.clock.now() + hour_ms }), {
      actor: 'k',
    });
    const report = await verifyStore(h.store, undefined, { now_ms: h.clock.now() + 2 * hour_ms });
    assert.deepEqual(
      report.violations.map((v) => [v.campaign_id, v.invariant]),
      [[c.id, '6']],
    );
  });

  test('verify catches a tampered envelope: a changed amount, a second packet for one user', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vs-env-')), 'v.db');
    const h = await harness({}, new SqliteStore({ path }));
    const c = await h.engine.envelopes.create(envelopeTerms(h, { count: 4, total_minor: 400 }), { actor: 'k' });
    await stampede(h.engine, c.red_envelope?.id ?? '', users(2));
    await assertInvariants(h.store);
    const raw = new Database(path);
    try {
      raw
        .prepare('UPDATE red_envelope_packets SET amount_minor = amount_minor + 1 WHERE campaign_id = ? AND idx = 3')
        .run(c.id);
      raw.prepare("UPDATE red_envelope_packets SET grabbed_by = 'u0' WHERE campaign_id = ? AND idx = 1").run(c.id);
    } finally {
      raw.close();
    }
    const details = (await verifyStore(h.store)).violations.filter((v) => v.invariant === '6').map((v) => v.detail);
    assert.ok(
      details.some((d) => d.includes('sum to 401')),
      details.join('; '),
    );
    assert.ok(
      details.some((d) => d.includes('grabbed more than once')),
      details.join('; '),
    );
    await h.store.close();
  });

  test('a fully grabbed envelope settles with nothing to refund and stays exhausted', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(
      envelopeTerms(h, { count: 3, total_minor: 300, expires_at_ms: h.clock.now() + hour_ms }),
      {
        actor: 'k',
      },
    );
    await stampede(h.engine, c.red_envelope?.id ?? '', users(3));
    h.clock.advance(hour_ms);
    assert.equal(await h.engine.envelopes.expireEnvelopes(), 1);
    const after = await h.engine.getCampaign(c.id);
    assert.equal(after.red_envelope?.refunded_minor, 0);
    assert.equal(after.budget_minor, 300);
    await assertInvariants(h.store);
  });

  test('the engine sweeper refunds an expired envelope on its own', async () => {
    const h = await harness({ sweep: true });
    try {
      const c = await h.engine.envelopes.create(envelopeTerms(h, { expires_at_ms: h.clock.now() + hour_ms }), {
        actor: 'k',
      });
      h.clock.advance(hour_ms);
      let settled = null;
      for (let i = 0; i < 200 && settled === null; i++) {
        await new Promise((r) => setTimeout(r, 50));
        settled = (await h.engine.getCampaign(c.id)).red_envelope?.settled_at_ms ?? null;
      }
      assert.notEqual(settled, null, 'the sweeper settled the envelope');
      await assertInvariants(h.store);
    } finally {
      await h.engine.close();
    }
  });

  test('one sweep refunds every expired envelope, however many pages of them are due at once', async () => {
    // A promotion's envelopes share its deadline: more than two sweep pages of them expire together.
    const h = await harness();
    const expires_at_ms = h.clock.now() + hour_ms;
    const made = 2 * limits.red_envelopes_per_sweep_max + 1;
    const terms = envelopeTerms(h, { total_minor: 3, count: 1, expires_at_ms });
    for (let i = 0; i < made; i++) await h.engine.envelopes.create(terms, { actor: 'k' });
    h.clock.advance(hour_ms);
    assert.equal(await h.engine.envelopes.expireEnvelopes(), made);
    assert.deepEqual(await h.store.dueRedEnvelopes(h.clock.now(), made), []);
    // Past verify's grace every remainder is refunded, not two pages of them only.
    const report = await verifyStore(h.store, undefined, { now_ms: h.clock.now() + settle_grace_ms });
    assert.deepEqual(report.violations, []);
  });

  test('an idempotent grab replays its first answer and pops nothing more', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(envelopeTerms(h, { count: 5, total_minor: 4_000 }), { actor: 'k' });
    const env_id = c.red_envelope?.id ?? '';
    const who = { actor: 'k', idem: { key: 'k:grab-1' } };
    const [a, b] = await Promise.all([
      h.engine.envelopes.grab(env_id, 'u1', who),
      h.engine.envelopes.grab(env_id, 'u1', who),
    ]);
    assert.deepEqual(a, b);
    assert.deepEqual(await h.engine.envelopes.grab(env_id, 'u1', who), a);
    await rejects(h.engine.envelopes.grab(env_id, 'u2', who), 'idempotency_key_reused');
    assert.equal((await h.engine.getCampaign(c.id)).red_envelope?.grabbed_count, 1);
  });

  test('creation refuses what cannot be split or lived out, and writes nothing', async () => {
    const h = await harness();
    const bad: Array<[Partial<RedEnvelopeTerms>, string]> = [
      [{ total_minor: 99, count: 100 }, 'total_minor'],
      [{ count: 0 }, 'count'],
      [{ count: 100_001, total_minor: 1e9 }, 'count'],
      [{ min_amount_minor: 0 }, 'min_amount_minor'],
      [{ min_amount_minor: 101, count: 100 }, 'total_minor'],
      [{ expires_at_ms: h.clock.now() }, 'expires_at'],
      [{ expires_at_ms: h.clock.now() + 91 * day_ms }, 'expires_at'],
    ];
    for (const [over, param] of bad) {
      await assert.rejects(h.engine.envelopes.create(envelopeTerms(h, over), { actor: 'k' }), (e: unknown) => {
        assert.ok(e instanceof Rejection && e.code === 'invalid_request', String(e));
        assert.equal(e.param, param, JSON.stringify(over));
        return true;
      });
    }
    assert.deepEqual(await h.store.campaignIds(), []);
    await rejects(
      h.engine.createCampaign(
        { ...(await import('../support/fixtures.ts')).spec({ code_mode: 'red_envelope' }) },
        { actor: 'k' },
      ),
      'invalid_request',
    );
  });

  test('a paused backing campaign refuses grabs; unknown envelopes are not_found', async () => {
    const h = await harness();
    const c = await h.engine.envelopes.create(envelopeTerms(h), { actor: 'k' });
    await h.engine.campaignAction(c.id, 'pause', { actor: 'k' });
    await rejects(h.engine.envelopes.grab(c.red_envelope?.id ?? '', 'u1', { actor: 'k' }), 'campaign_paused');
    await rejects(h.engine.envelopes.grab('env_nope', 'u1', { actor: 'k' }), 'not_found');
    await rejects(h.engine.envelopes.get('env_nope'), 'not_found');
    await rejects(h.engine.claim({ campaign_id: c.id, user_id: 'u1' }, { actor: 'k' }), 'invalid_request');
    await rejects(h.engine.updateCampaign(c.id, { budget_minor: 1 }, { actor: 'k' }), 'invalid_state');
  });
});
