import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { CampaignSpec } from '../../src/domain/campaign.ts';
import { Rejection } from '../../src/domain/errors.ts';
import type { Alert } from '../../src/domain/incident.ts';
import type { Command } from '../../src/engine/commands.ts';
import { Detection } from '../../src/engine/detection/detection.ts';
import { RedisDetectors } from '../../src/engine/detection/shared-detectors.ts';
import { Engine } from '../../src/engine/engine.ts';
import {
  activeCampaign,
  assertInvariants,
  day_ms,
  envelopeTerms,
  type Harness,
  harness,
  order,
} from '../support/fixtures.ts';
import { redis_test_url } from '../support/redis.ts';
import { Traffic } from '../support/traffic.ts';

const seed = Number(process.env.DETECT_SEED ?? 20_190_120);
console.log(`detection engine test seed: ${seed}`);

/** A shared-code campaign big enough that only the rate detectors can object. */
const detectSpec: Partial<CampaignSpec> = {
  code_mode: 'shared_code',
  code: 'SPRING',
  per_user_limit: null,
  max_redemptions: null,
  budget_minor: 1_000_000_000,
};

function redeemer(engine: Engine) {
  return async (merchant_id: string, seq: number): Promise<string> => {
    try {
      await engine.redeem(
        {
          user_id: `u${seq}`,
          code: 'SPRING',
          order: order({ id: `o${seq}`, merchant_id }),
          device_id: `d${seq}`,
          ip: `10.${seq % 200}.${Math.floor(seq / 200) % 250}.7`,
          confirm: true,
        },
        { actor: 'key_checkout' },
      );
      return 'ok';
    } catch (e) {
      if (e instanceof Rejection) return e.code;
      throw e;
    }
  };
}

async function setup(over: Partial<CampaignSpec> = {}, shared: RedisDetectors | null = null) {
  const h = await harness();
  const detection = new Detection(h.engine, { timer: false, shared }).start();
  const c = await activeCampaign(h, { ...detectSpec, ...over });
  const traffic = new Traffic({
    clock: h.clock,
    seed,
    redeem: redeemer(h.engine),
    tick: (now_ms) => detection.tickNow(now_ms),
  });
  return { h, detection, c, traffic };
}

async function alertsOf(h: Harness, campaign_id: string): Promise<Alert[]> {
  return (await h.store.listAlerts({ campaign_id, limit: 100 })).data;
}

/** Nothing listens here: a Redis that is down (connections refused). */
const unreachable_redis_url = 'redis://127.0.0.1:1';

/** The burst: 300 a second at one merchant on top of the ordinary traffic, for ten seconds. */
const burst_per_s = 300;
const burst_s = 10;

describe('detection wired into the engine (ManualClock, SQLite in memory)', () => {
  test('a burst at one merchant pauses the campaign within 1,000 burst redemptions', async () => {
    const { h, detection, c, traffic } = await setup();
    await traffic.quiet(120);
    assert.deepEqual(await alertsOf(h, c.id), [], 'quiet traffic raises nothing');
    let paused_refusals = 0;
    for (let s = 0; s < burst_s; s++) {
      const r = await traffic.second(traffic.quietCount(), burst_per_s);
      paused_refusals += r.refused.get('campaign_paused') ?? 0;
    }
    await detection.settled();
    const burst_ok = traffic.totals.burst_ok;
    console.log(`burst: campaign paused after ${burst_ok} burst redemptions (${burst_per_s * burst_s} attempted)`);
    assert.ok(burst_ok > 0 && burst_ok <= 1000, `${burst_ok} burst redemptions went through`);
    assert.ok(paused_refusals > 0);
    const now = await h.engine.getCampaign(c.id);
    assert.equal(now.status, 'paused');
    assert.match(now.status_reason ?? '', /^detector: /);
    const alerts = await alertsOf(h, c.id);
    const pausing = alerts.filter((a) => a.action === 'paused');
    assert.equal(pausing.length, 1, JSON.stringify(alerts));
    assert.ok(
      alerts.every((a) => a.kind === 'merchant_spike' || a.kind === 'rate_spike'),
      JSON.stringify(alerts),
    );
    assert.ok(alerts.some((a) => a.kind === 'merchant_spike' && a.merchant_id === 'm7'));
    assert.equal(now.spent_minor, traffic.totals.ok * 1000);
    await assertInvariants(h.store);
  });

  test('a smooth ramp of the same volume over many merchants is not paused', async () => {
    const { h, c, traffic } = await setup();
    await traffic.quiet(120);
    const target = burst_s * (burst_per_s + 12);
    let sent = 0;
    for (let s = 0; sent < target; s++) {
      const rate = 12.5 * 2 ** (s / 60);
      const n = Math.round(rate * (0.8 + 0.4 * traffic.rand()));
      await traffic.second(n);
      sent += n;
    }
    console.log(
      `ramp: ${sent} redemptions over ${traffic.second_index - 120} s, peak ${Math.round(12.5 * 2 ** ((traffic.second_index - 121) / 60))}/s`,
    );
    assert.deepEqual(await alertsOf(h, c.id), []);
    assert.equal((await h.engine.getCampaign(c.id)).status, 'active');
    assert.equal(traffic.totals.ok, traffic.totals.attempts);
    await assertInvariants(h.store);
  });

  test('auto_pause false: the burst is alerted once per kind (cooldown), the campaign keeps running', async () => {
    const { h, detection, c, traffic } = await setup({ auto_pause: false });
    await traffic.quiet(90);
    for (let s = 0; s < burst_s; s++) await traffic.second(traffic.quietCount(), burst_per_s);
    await detection.settled();
    assert.equal((await h.engine.getCampaign(c.id)).status, 'active');
    const alerts = await alertsOf(h, c.id);
    assert.ok(alerts.length >= 1 && alerts.every((a) => a.action === 'alerted'), JSON.stringify(alerts));
    const keys = alerts.map((a) => `${a.kind}|${a.merchant_id ?? ''}`);
    assert.equal(new Set(keys).size, keys.length, `one alert per kind and subject: ${keys.join(', ')}`);
    assert.equal(traffic.totals.ok, traffic.totals.attempts);
    await assertInvariants(h.store);
  });

  test('a red envelope spent at once is not paused for budget burn; a campaign spent as fast still is', async () => {
    const h = await harness();
    const detection = new Detection(h.engine, { timer: false }).start();
    // Grabbed and spent within the first minute of a two-day life: what an envelope is for. Its total
    // bounds what it can cost, so spending it ahead of an even plan is no sign of a leak.
    const coupon = { min_spend_minor: 0, product_kinds: ['merchandise'], coupon_ttl_s: 86_400 };
    const env = await h.engine.envelopes.create(envelopeTerms(h, { coupon }), { actor: 'k' });
    const env_id = env.red_envelope?.id ?? '';
    const coupons = [];
    for (let i = 0; i < 100; i++) coupons.push((await h.engine.envelopes.grab(env_id, `g${i}`, { actor: 'k' })).coupon);
    const [late, ...first] = coupons;
    for (const [i, cp] of first.entries()) {
      const o = order({ id: `e${i}`, amount_minor: 100_000 });
      await h.engine.redeem({ user_id: cp.user_id ?? '', coupon_id: cp.id, order: o, confirm: true }, { actor: 'k' });
    }
    const c = await activeCampaign(h, { ...detectSpec, budget_minor: 10_000, ends_at_ms: h.clock.now() + 2 * day_ms });
    for (let i = 0; i < 9; i++) {
      await h.engine.redeem(
        { user_id: `c${i}`, code: 'SPRING', order: order({ id: `c${i}` }), confirm: true },
        { actor: 'k' },
      );
    }
    h.clock.advance(60_000);
    await detection.tickNow();
    assert.equal((await h.engine.getCampaign(c.id)).status, 'paused', 'the ordinary campaign burned 90% at once');
    assert.deepEqual(await alertsOf(h, env.id), []);
    assert.equal((await h.engine.getCampaign(env.id)).status, 'active');
    assert.ok(late);
    const paid = await h.engine.redeem(
      {
        user_id: late.user_id ?? '',
        coupon_id: late.id,
        order: order({ id: 'late', amount_minor: 100_000 }),
        confirm: true,
      },
      { actor: 'k' },
    );
    assert.equal(paid.discount_minor, late.value_minor, 'the last holder still gets their packet');
    await detection.close();
    await assertInvariants(h.store);
  });

  test('after a resume, budget burn judges the spend since (the rest of the budget over the rest of the window), not the same evidence again', async () => {
    const h = await harness();
    const detection = new Detection(h.engine, { timer: false }).start();
    const c = await activeCampaign(h, { ...detectSpec, budget_minor: 10_000, ends_at_ms: h.clock.now() + 2 * day_ms });
    const spend = async (tag: string) =>
      h.engine.redeem(
        { user_id: tag, code: 'SPRING', order: order({ id: tag }), confirm: true },
        { actor: 'key_checkout' },
      );
    for (let i = 0; i < 9; i++) await spend(`a${i}`);
    h.clock.advance(60_000);
    await detection.tickNow();
    assert.equal((await h.engine.getCampaign(c.id)).status, 'paused', '90% of the budget at once');
    // Someone looked and found it in order: the resume holds, minute after minute, with nothing new spent.
    await h.engine.campaignAction(c.id, 'resume', { actor: 'key_admin' });
    for (let minute = 0; minute < 5; minute++) {
      h.clock.advance(61_000);
      await detection.tickNow();
    }
    assert.equal((await h.engine.getCampaign(c.id)).status, 'active', 'the same evidence does not pause it again');
    assert.equal((await alertsOf(h, c.id)).filter((a) => a.kind === 'budget_burn').length, 1);
    // New evidence does: the whole rest of the budget spent at once.
    await spend('b0');
    h.clock.advance(1_000);
    await detection.tickNow();
    const after = await h.engine.getCampaign(c.id);
    assert.equal(after.status, 'paused', 'the rest burned at once');
    assert.equal((await alertsOf(h, c.id)).filter((a) => a.kind === 'budget_burn').length, 2);
    await detection.close();
    await assertInvariants(h.store);
  });

  test('an alert the engine could not take (the store unavailable) is submitted again at the next tick: the campaign still pauses', async () => {
    const h = await harness();
    const detection = new Detection(h.engine, { timer: false }).start();
    const c = await activeCampaign(h, { ...detectSpec, budget_minor: 10_000, ends_at_ms: h.clock.now() + 2 * day_ms });
    for (let i = 0; i < 9; i++) {
      await h.engine.redeem(
        { user_id: `a${i}`, code: 'SPRING', order: order({ id: `a${i}` }), confirm: true },
        { actor: 'key_checkout' },
      );
    }
    // The store fails the alert command twice (a pausing alert is never shed by a full queue, since
    // it stops spending, but a store outage fails it all the same).
    const submit = h.engine.submitCommand.bind(h.engine);
    let failed = 0;
    h.engine.submitCommand = (<T>(campaign_id: string, cmd: Command): Promise<T> => {
      if (cmd.type === 'alert' && failed < 2) {
        failed += 1;
        return Promise.reject(new Rejection('store_unavailable', 'the store is not answering', undefined, 1));
      }
      return submit<T>(campaign_id, cmd);
    }) as Engine['submitCommand'];
    h.clock.advance(60_000);
    await detection.tickNow();
    assert.equal(failed, 1);
    assert.equal((await h.engine.getCampaign(c.id)).status, 'active', 'failed: nothing recorded yet');
    h.clock.advance(1_000);
    await detection.tickNow();
    h.clock.advance(1_000);
    await detection.tickNow();
    assert.equal(failed, 2);
    const after = await h.engine.getCampaign(c.id);
    assert.equal(after.status, 'paused', 'the alarm is not lost to its own cooldown');
    const alerts = await alertsOf(h, c.id);
    assert.deepEqual(
      alerts.map((a) => [a.kind, a.action]),
      [['budget_burn', 'paused']],
    );
    await detection.close();
    await assertInvariants(h.store);
  });

  test('Redis unreachable: the node judges its own traffic meanwhile, so a burst at one merchant still pauses', async () => {
    const down = new RedisDetectors({ url: unreachable_redis_url });
    const { h, detection, c, traffic } = await setup({}, down);
    try {
      await traffic.quiet(120);
      for (let s = 0; s < burst_s; s++) await traffic.second(traffic.quietCount(), burst_per_s);
      await detection.settled();
      const burst_ok = traffic.totals.burst_ok;
      assert.ok(burst_ok > 0 && burst_ok <= 1000, `${burst_ok} burst redemptions went through`);
      assert.equal((await h.engine.getCampaign(c.id)).status, 'paused');
      const alerts = await alertsOf(h, c.id);
      assert.ok(alerts.some((a) => a.kind === 'merchant_spike' && a.merchant_id === 'm7' && a.action === 'paused'));
      assert.equal(alerts.filter((a) => a.action === 'paused').length, 1, JSON.stringify(alerts));
    } finally {
      await detection.close();
    }
    await assertInvariants(h.store);
  });

  test('Redis unreachable: budget burn is still judged, and pauses once', async () => {
    const h = await harness();
    const detection = new Detection(h.engine, {
      timer: false,
      shared: new RedisDetectors({ url: unreachable_redis_url }),
    }).start();
    try {
      const c = await activeCampaign(h, {
        ...detectSpec,
        budget_minor: 10_000,
        ends_at_ms: h.clock.now() + 2 * day_ms,
      });
      for (let i = 0; i < 9; i++) {
        await h.engine.redeem(
          { user_id: `a${i}`, code: 'SPRING', order: order({ id: `a${i}` }), confirm: true },
          { actor: 'key_checkout' },
        );
      }
      for (let s = 0; s < 3; s++) {
        h.clock.advance(60_000);
        await detection.tickNow();
      }
      assert.equal((await h.engine.getCampaign(c.id)).status, 'paused', '90% of the budget at once');
      assert.deepEqual(
        (await alertsOf(h, c.id)).map((a) => [a.kind, a.action]),
        [['budget_burn', 'paused']],
      );
    } finally {
      await detection.close();
    }
    await assertInvariants(h.store);
  });

  test('memory is bounded: at most campaigns_max detectors (LRU)', async () => {
    const h = await harness();
    const detection = new Detection(h.engine, { timer: false, campaigns_max: 2 }).start();
    for (const code of ['ONE', 'TWO', 'THREE']) {
      await activeCampaign(h, { ...detectSpec, code });
      await h.engine.redeem({ user_id: 'u1', code, order: order(), confirm: true }, { actor: 'k' });
    }
    assert.equal(detection.size, 2);
    await detection.close();
    await assertInvariants(h.store);
  });
});

const redis_url = redis_test_url;

/** Whether a Redis answers; the shared-state test skips (with a message) when none does. */
async function redisUp(): Promise<boolean> {
  const probe = new Redis(redis_url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A second node on the first one's store and clock: its own engine, as another process would have. */
async function secondNode(a: Harness): Promise<Harness> {
  return {
    ...a,
    engine: await Engine.open(a.store, { clock: a.clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER }),
  };
}

describe('detection shared through Redis (two nodes on one store)', async () => {
  const up = await redisUp();
  const prefix = `vs-test:${randomBytes(6).toString('hex')}:`;
  after(async () => {
    if (!up) return;
    const r = new Redis(redis_url);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length > 0) await r.del(...keys);
    r.disconnect();
  });

  test('a burst split across two nodes is judged as one: paused within 1,000, one alert per kind', {
    skip: up ? false : `no Redis at ${redis_url}`,
  }, async () => {
    const a = await harness();
    const b = await secondNode(a);
    const nodes = [a, b].map((n) =>
      new Detection(n.engine, {
        timer: false,
        shared: new RedisDetectors({ url: redis_url, key_prefix: prefix }),
      }).start(),
    );
    const c = await activeCampaign(a, detectSpec);
    const redeem = [redeemer(a.engine), redeemer(b.engine)];
    const traffic = new Traffic({
      clock: a.clock,
      seed,
      redeem: (merchant, seq) => (redeem[seq % 2] as (m: string, s: number) => Promise<string>)(merchant, seq),
      tick: (now_ms) => Promise.all(nodes.map((d) => d.tickNow(now_ms))),
    });
    await traffic.quiet(120);
    assert.deepEqual(await alertsOf(a, c.id), []);
    for (let s = 0; s < burst_s; s++) await traffic.second(traffic.quietCount(), burst_per_s);
    await Promise.all(nodes.map((d) => d.flush()));
    const burst_ok = traffic.totals.burst_ok;
    console.log(`shared: paused after ${burst_ok} burst redemptions over two nodes`);
    assert.ok(burst_ok > 0 && burst_ok <= 1000, `${burst_ok}`);
    assert.equal((await a.engine.getCampaign(c.id)).status, 'paused');
    const alerts = await alertsOf(a, c.id);
    const keys = alerts.map((x) => `${x.kind}|${x.merchant_id ?? ''}`);
    assert.equal(new Set(keys).size, keys.length, `the shared cooldown deduplicates across nodes: ${keys.join(', ')}`);
    assert.equal(alerts.filter((x) => x.action === 'paused').length, 1);
    await Promise.all(nodes.map((d) => d.close()));
    await assertInvariants(a.store);
  });

  test('a resume on one node holds against another node that last saw the campaign before the pause', {
    skip: up ? false : `no Redis at ${redis_url}`,
  }, async () => {
    const a = await harness();
    const b = await secondNode(a);
    const shared = [a, b].map(() => new RedisDetectors({ url: redis_url, key_prefix: prefix }));
    // Each node's client connects in the background: the ticks below must not meet one still connecting.
    for (const s of shared) await connected(s);
    const [on_a, on_b] = [a, b].map((n, i) => new Detection(n.engine, { timer: false, shared: shared[i] }).start()) as [
      Detection,
      Detection,
    ];
    try {
      await resumeRace(a, b, on_a, on_b);
    } finally {
      await Promise.all([on_a.close(), on_b.close(), b.engine.close()]);
    }
    await assertInvariants(a.store);
  });
});

/** Resolves once a step on the shared state goes through (the client is connected), or throws after 10 s. */
async function connected(shared: RedisDetectors): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await shared.update('connected', () => []).catch(() => null)) !== null) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Redis at ${redis_url} did not answer`);
}

/** The body of the test above: a pause on A, a resume on A, and B's copy of the campaign from before both. */
async function resumeRace(a: Harness, b: Harness, on_a: Detection, on_b: Detection): Promise<void> {
  const c = await activeCampaign(a, { ...detectSpec, budget_minor: 10_000, ends_at_ms: a.clock.now() + 2 * day_ms });
  const spend = (n: Harness, tag: string) =>
    n.engine.redeem({ user_id: tag, code: 'SPRING', order: order({ id: tag }), confirm: true }, { actor: 'k' });
  // Both nodes took part: B committed last, so its copy shows the 90% spent, and nothing of what follows.
  for (let i = 0; i < 9; i++) await spend(i % 2 === 0 ? b : a, `s${i}`);
  a.clock.advance(60_000);
  await on_a.tickNow();
  assert.equal((await a.engine.getCampaign(c.id)).status, 'paused', '90% of the budget at once');
  // Someone looked and found it in order, and resumed it on node A; nothing new is spent.
  a.clock.advance(30_000);
  await a.engine.campaignAction(c.id, 'resume', { actor: 'key_admin' });
  for (let s = 0; s < 5; s++) {
    a.clock.advance(31_000);
    await Promise.all([on_a.tickNow(), on_b.tickNow()]);
  }
  assert.equal((await a.engine.getCampaign(c.id)).status, 'active', 'the same evidence does not pause it again');
  assert.equal((await alertsOf(a, c.id)).filter((x) => x.action === 'paused').length, 1);
  // New evidence still does, whichever node sees it: the rest of the budget spent at once on B.
  await spend(b, 'late');
  a.clock.advance(1_000);
  await Promise.all([on_a.tickNow(), on_b.tickNow()]);
  assert.equal((await a.engine.getCampaign(c.id)).status, 'paused', 'the rest burned at once');
}
