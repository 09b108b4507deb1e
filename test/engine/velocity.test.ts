import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignSpec, Velocity } from '../../src/domain/campaign.ts';
import { Rejection } from '../../src/domain/errors.ts';
import { ManualClock } from '../../src/engine/clock.ts';
import { type Counters, MemoryCounters } from '../../src/engine/counters.ts';
import type { RedeemInput } from '../../src/engine/engine.ts';
import { Engine } from '../../src/engine/engine.ts';
import { RedisCounters } from '../../src/engine/redis-counters.ts';
import { type Store, StoreUnavailable } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { activeCampaign, assertInvariants, type Harness, harness, order } from '../support/fixtures.ts';
import {
  connected,
  dead_redis_url,
  freshPrefix,
  redis_unavailable_message,
  redisAvailable,
  redisProxy,
  testRedisCounters,
} from '../support/redis.ts';

const who = { actor: 'key_checkout' };

/** A store whose batches fail (the database unreachable) while `down.now` is set. */
function failingBatches(inner: Store, down: { now: boolean }): Store {
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop !== 'runBatch' && prop !== 'runBatches') return value.bind(target);
      return (...args: unknown[]) =>
        down.now ? Promise.reject(new StoreUnavailable('database unreachable')) : value.apply(target, args);
    },
  });
}
let order_seq = 0;

/** A shared-code campaign with room for many redemptions, so only velocity refuses. */
function velocityCampaign(velocity: Velocity | null, over: Partial<CampaignSpec> = {}): Partial<CampaignSpec> {
  return {
    code_mode: 'shared_code',
    code: `FAST${++order_seq}`,
    budget_minor: 10_000_000,
    max_redemptions: null,
    per_user_limit: 1000,
    velocity,
    ...over,
  };
}

function input(code: string, over: Partial<RedeemInput> = {}): RedeemInput {
  return { user_id: 'u1', code, order: order({ id: `o${++order_seq}` }), device_id: 'd1', ip: '203.0.113.1', ...over };
}

async function refusal(p: Promise<unknown>): Promise<Rejection> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Rejection, `expected a Rejection, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a refusal');
}

async function codeOf(h: Harness, over: Partial<CampaignSpec>): Promise<string> {
  const c = await activeCampaign(h, over);
  assert.ok(c.code);
  return c.code;
}

/**
 * `count` redemptions of `code` at once, those where `valid(i)` is false below the minimum spend
 * (order ids `low-<tag>-<i>`); the code of each answer, each checked to be one such a mix may get.
 */
async function besideRefused(
  h: Harness,
  code: string,
  count: number,
  valid: (i: number) => boolean,
  tag: string,
): Promise<string[]> {
  const low = (i: number) => input(code, { order: order({ id: `low-${tag}-${i}`, amount_minor: 1 }) });
  const rs = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => h.engine.redeem(valid(i) ? input(code) : low(i), who)),
  );
  const codes = rs.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as Rejection).code));
  for (const c of codes) assert.ok(['reserved', 'rate_limited', 'min_spend_not_met'].includes(c), c);
  return codes;
}

describe('velocity limits on redemptions', () => {
  test('per user per minute: the limit-th passes, the next gets rate_limited with a retry time; a new minute resets', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 3 }));
    for (let i = 0; i < 3; i++) await h.engine.redeem(input(code), who);
    const refused = await refusal(h.engine.redeem(input(code), who));
    assert.equal(refused.code, 'rate_limited');
    assert.equal(refused.retry_after_s, 60, 'the harness clock sits at the start of a minute');
    await h.engine.redeem(input(code, { user_id: 'u2', device_id: 'd2', ip: '203.0.113.2' }), who);
    h.clock.advance(60_000);
    await h.engine.redeem(input(code), who);
    await assertInvariants(h.store);
  });

  test('per device and per ip count across users; a request without a device or ip skips those', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_device_per_minute: 2, per_ip_per_day: 3 }));
    await h.engine.redeem(input(code, { user_id: 'a', ip: '198.51.100.1' }), who);
    await h.engine.redeem(input(code, { user_id: 'b', ip: '198.51.100.2' }), who);
    assert.equal(
      (await refusal(h.engine.redeem(input(code, { user_id: 'c', ip: '198.51.100.3' }), who))).code,
      'rate_limited',
    );
    await h.engine.redeem(input(code, { user_id: 'c', device_id: null, ip: '198.51.100.9' }), who);
    await h.engine.redeem(input(code, { user_id: 'd', device_id: 'd8', ip: '198.51.100.9' }), who);
    await h.engine.redeem(input(code, { user_id: 'e', device_id: 'd9', ip: '198.51.100.9' }), who);
    const byIp = await refusal(
      h.engine.redeem(input(code, { user_id: 'f', device_id: 'd10', ip: '198.51.100.9' }), who),
    );
    assert.equal(byIp.code, 'rate_limited');
    assert.ok((byIp.retry_after_s ?? 0) > 60, 'the day window resets later than a minute');
    await h.engine.redeem(input(code, { user_id: 'f', device_id: 'd10', ip: null }), who);
  });

  test('refused redemptions take no place: neither by the limiter nor by the engine', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 2 }));
    for (let i = 0; i < 4; i++) {
      const low = input(code, { order: order({ id: `low${i}`, amount_minor: 1 }) });
      assert.equal((await refusal(h.engine.redeem(low, who))).code, 'min_spend_not_met');
    }
    await h.engine.redeem(input(code), who);
    await h.engine.redeem(input(code), who);
    for (let i = 0; i < 3; i++) assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    h.clock.advance(60_000);
    await h.engine.redeem(input(code), who);
    await assertInvariants(h.store);
  });

  test('a redemption the engine refuses, in flight beside a valid one, does not get the valid one rate_limited', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_day: 1 }));
    // The refused one takes the day's place first and gives it back once the engine refuses it:
    // the valid one, sent at the same moment, waits for that instead of being told to come back tomorrow.
    const low = input(code, { order: order({ id: 'low-beside', amount_minor: 1 }) });
    const [refused, valid] = await Promise.allSettled([h.engine.redeem(low, who), h.engine.redeem(input(code), who)]);
    assert.equal(refused.status === 'rejected' && (refused.reason as Rejection).code, 'min_spend_not_met');
    assert.equal(valid.status === 'fulfilled' ? valid.value.status : (valid.reason as Rejection).message, 'reserved');
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await assertInvariants(h.store);
  });

  test('many at the limit beside refused ones: exactly the limit of the valid ones are accepted', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 5 }));
    const codes = await besideRefused(h, code, 40, (i) => i % 2 !== 0, 'many');
    assert.equal(codes.filter((c) => c === 'reserved').length, 5, codes.join(','));
    await assertInvariants(h.store);
  });

  test('waiting for places in flight costs each request a bounded number of takes, not one per give-back', async () => {
    const inner = new MemoryCounters(new ManualClock(0));
    let takes = 0;
    const counters: Counters = {
      kind: 'memory',
      get: (keys) => inner.get(keys),
      incr: (keys) => inner.incr(keys),
      take: (keys) => {
        takes += 1;
        return inner.take(keys);
      },
      giveBack: (keys) => inner.giveBack(keys),
      close: () => inner.close(),
    };
    const h = await harness({ counters });
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 5 }));
    const n = 300;
    const rs = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        h.engine.redeem(input(code, { order: order({ id: `flood-${i}`, amount_minor: i === 7 ? 10_000 : 1 }) }), who),
      ),
    );
    const codes = rs.map((r) => (r.status === 'fulfilled' ? r.value.status : (r.reason as Rejection).code));
    // Each refused one gives its place to the next: every request is decided by the engine, none by the limiter.
    assert.equal(codes.filter((c) => c === 'reserved').length, 1);
    assert.equal(codes.filter((c) => c === 'min_spend_not_met').length, n - 1);
    assert.ok(takes <= 3 * n, `${takes} takes for ${n} requests`);
    await assertInvariants(h.store);
  });

  test('retries of one redemption with one Idempotency-Key, in flight together, take one place between them', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 2 }));
    const once = input(code);
    const retry = { actor: who.actor, idem: { key: 'key_checkout:order-1' } };
    // Both are admitted before either commits; the batch answers the second with the first's redemption.
    const [a, b] = await Promise.all([h.engine.redeem(once, retry), h.engine.redeem(once, retry)]);
    assert.equal(a.id, b.id);
    // One redemption was accepted, so the user has one more this minute, then the limit.
    await h.engine.redeem(input(code), who);
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await assertInvariants(h.store);
  });

  test("a retry in flight together answered with its first request's refusal gives its place back once, not twice", async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 3 }));
    await h.engine.redeem(input(code), who);
    // Refused (below the minimum spend), sent twice with one Idempotency-Key: both take a place before either
    // is decided; the first is refused, the second answered with that refusal. Each gives back its own place.
    const low = input(code, { order: order({ id: 'low', amount_minor: 1 }) });
    const retry = { actor: who.actor, idem: { key: 'key_checkout:low-1' } };
    const both = await Promise.allSettled([h.engine.redeem(low, retry), h.engine.redeem(low, retry)]);
    for (const r of both) assert.equal(r.status === 'rejected' && (r.reason as Rejection).code, 'min_spend_not_met');
    // One redemption accepted this minute: two more, then the limit.
    await h.engine.redeem(input(code), who);
    await h.engine.redeem(input(code), who);
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await assertInvariants(h.store);
  });

  test('one Idempotency-Key on two different redemptions in flight together: the reused one gives back only its own place', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 3 }));
    await h.engine.redeem(input(code), who);
    const key = { actor: who.actor, idem: { key: 'key_checkout:reused' } };
    const [first, reused] = await Promise.allSettled([
      h.engine.redeem(input(code), key),
      h.engine.redeem(input(code), key),
    ]);
    assert.equal(first.status, 'fulfilled');
    assert.equal(reused.status === 'rejected' && (reused.reason as Rejection).code, 'idempotency_key_reused');
    // Two redemptions accepted this minute: one more, then the limit.
    await h.engine.redeem(input(code), who);
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await assertInvariants(h.store);
  });

  test('50 concurrent redemptions at a limit of 5 admit exactly 5', async () => {
    const h = await harness();
    const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 5 }));
    const rs = await Promise.allSettled(Array.from({ length: 50 }, () => h.engine.redeem(input(code), who)));
    assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 5);
    for (const r of rs) if (r.status === 'rejected') assert.equal((r.reason as Rejection).code, 'rate_limited');
    await assertInvariants(h.store);
  });

  test('a redemption the store failed to record (503) takes no place: its retry is admitted', async () => {
    const down = { now: false };
    const h = await harness({}, failingBatches(new SqliteStore({ path: ':memory:' }), down));
    const code = await codeOf(h, velocityCampaign({ per_user_per_day: 1 }));
    const once = input(code);
    const retry = { actor: who.actor, idem: { key: 'key_checkout:store-down' } };
    down.now = true;
    await assert.rejects(h.engine.redeem(once, retry), StoreUnavailable);
    down.now = false;
    const r = await h.engine.redeem(once, retry);
    assert.equal(r.status, 'reserved');
    assert.equal((await h.engine.redeem(once, retry)).id, r.id, 'a replay is answered, not limited');
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await assertInvariants(h.store);
  });

  test('a velocity change applies at once on the node that made it', async () => {
    const h = await harness();
    const c = await activeCampaign(h, velocityCampaign({ per_user_per_minute: 1 }));
    const code = c.code ?? '';
    await h.engine.redeem(input(code), who);
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await h.engine.updateCampaign(c.id, { velocity: { per_user_per_minute: 1, per_ip_per_minute: 100 } }, who);
    assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
    await h.engine.updateCampaign(c.id, { velocity: null }, { actor: 'key_maker' });
    await h.engine.campaignAction(c.id, 'approve', { actor: 'key_checker' });
    await h.engine.redeem(input(code), who);
  });

  describe('with Redis shared by two nodes', async () => {
    if (!(await redisAvailable())) {
      test.skip(redis_unavailable_message);
      return;
    }
    test('with Redis too, refused redemptions beside valid ones leave the valid ones exactly the limit', async () => {
      const h = await harness({ counters: testRedisCounters() });
      await connected(h.engine.guards.counters as RedisCounters);
      const code = await codeOf(h, velocityCampaign({ per_user_per_minute: 3 }));
      const codes = await besideRefused(h, code, 30, (i) => i % 3 === 0, 'redis');
      assert.equal(codes.filter((c) => c === 'reserved').length, 3, codes.join(','));
      assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
      await assertInvariants(h.store);
      await h.engine.close();
    });

    test('two engines on one store and one Redis admit exactly the limit between them', async () => {
      const prefix = freshPrefix();
      const a = await harness({ counters: testRedisCounters(prefix) });
      const b = { ...a, engine: await Engine.open(a.store, { clock: a.clock, counters: testRedisCounters(prefix) }) };
      for (const n of [a, b]) await connected(n.engine.guards.counters as RedisCounters);
      const code = await codeOf(a, velocityCampaign({ per_user_per_minute: 7 }));
      const rs = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).engine.redeem(input(code), who)),
      );
      assert.equal(rs.filter((r) => r.status === 'fulfilled').length, 7);
      for (const r of rs) if (r.status === 'rejected') assert.equal((r.reason as Rejection).code, 'rate_limited');
      await assertInvariants(a.store);
      await a.engine.close();
      await b.engine.close();
    });
  });

  describe('with a slow Redis', async () => {
    if (!(await redisAvailable())) {
      test.skip(redis_unavailable_message);
      return;
    }
    test('a redemption refused 503 because Redis answered too late takes no place, though Redis counted it', async (t) => {
      const proxy = await redisProxy();
      const counters = new RedisCounters({ url: proxy.url, key_prefix: freshPrefix(), command_timeout_ms: 100 });
      await connected(counters);
      const h = await harness({ counters });
      t.after(async () => {
        await h.engine.close();
        proxy.close();
      });
      const code = await codeOf(h, velocityCampaign({ per_user_per_day: 1 }));
      // Redis runs the take but its answer comes after the command timeout: the request fails closed.
      proxy.delay(400);
      assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'store_unavailable');
      proxy.delay(0);
      await proxy.drained();
      // No redemption was accepted today, so the retry is (and the one after it is the limit).
      const retried = await h.engine.redeem(input(code), who);
      assert.equal(retried.status, 'reserved');
      assert.equal((await refusal(h.engine.redeem(input(code), who))).code, 'rate_limited');
      await assertInvariants(h.store);
    });
  });

  test('Redis down: velocity-limited campaigns fail closed with 503 store_unavailable; others keep working', async () => {
    const h = await harness({ counters: new RedisCounters({ url: dead_redis_url }) });
    const limited = await codeOf(h, velocityCampaign({ per_user_per_minute: 100 }));
    const open = await codeOf(h, velocityCampaign(null));
    const down = await refusal(h.engine.redeem(input(limited), who));
    assert.equal(down.code, 'store_unavailable');
    assert.ok((down.retry_after_s ?? 0) >= 1);
    assert.match(down.message, /velocity limits/);
    const r = await h.engine.redeem(input(open), who);
    assert.equal(r.status, 'reserved');
    // The lockout goes on with this node's own counts: a first wrong code is just not found.
    assert.equal((await refusal(h.engine.redeem(input('NOPE'), who))).code, 'coupon_not_found');
    await assertInvariants(h.store);
    await h.engine.close();
  });
});
