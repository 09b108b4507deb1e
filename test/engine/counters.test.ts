import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ManualClock } from '../../src/engine/clock.ts';
import { type Counters, CountersUnavailable, MemoryCounters } from '../../src/engine/counters.ts';
import { RedisCounters } from '../../src/engine/redis-counters.ts';
import { waitFor } from '../faults/load.ts';
import {
  connected,
  dead_redis_url,
  freshPrefix,
  redis_unavailable_message,
  redisAvailable,
  redisProxy,
  testRedisCounters,
} from '../support/redis.ts';

const minute_ms = 60_000;
const key = (k: string, limit = 3) => ({ key: k, limit, window_ms: minute_ms });

/** The same behaviour from every implementation; `nodes` opens more views of the same counters. */
function counterContract(name: string, open: () => Promise<{ counters: Counters; nodes: () => Promise<Counters> }>) {
  describe(name, () => {
    test('incr counts up from zero and get reads without counting', async () => {
      const { counters } = await open();
      assert.deepEqual(await counters.get([key('a'), key('b')]), [0, 0]);
      assert.deepEqual(await counters.incr([key('a')]), [1]);
      assert.deepEqual(await counters.incr([key('a'), key('b')]), [2, 1]);
      assert.deepEqual(await counters.get([key('a'), key('b'), key('c')]), [2, 1, 0]);
      await counters.close();
    });

    test('take admits exactly up to the limit; a refused take counts nothing', async () => {
      const { counters } = await open();
      const buckets = [key('user', 3), key('ip', 10)];
      for (let i = 0; i < 3; i++) assert.equal((await counters.take(buckets)).admitted, true);
      const refused = await counters.take(buckets);
      assert.deepEqual(refused, { admitted: false, counts: [3, 3] });
      assert.deepEqual(await counters.get(buckets), [3, 3], 'the refused take took no place in the ip bucket');
      await counters.close();
    });

    test('giveBack frees a place, never goes below zero and never recreates a key', async () => {
      const { counters } = await open();
      const b = [key('g', 1)];
      assert.equal((await counters.take(b)).admitted, true);
      assert.equal((await counters.take(b)).admitted, false);
      await counters.giveBack(b);
      assert.deepEqual(await counters.get(b), [0]);
      await counters.giveBack(b);
      assert.deepEqual(await counters.get(b), [0]);
      assert.equal((await counters.take(b)).admitted, true);
      await counters.close();
    });

    test('concurrent takes at the limit from several nodes admit exactly the limit', async () => {
      const { counters, nodes } = await open();
      const views = [counters, await nodes(), await nodes()];
      const buckets = [key('hot', 25), key('hot-ip', 1000)];
      const takes = await Promise.all(
        Array.from({ length: 120 }, (_, i) => (views[i % views.length] as Counters).take(buckets)),
      );
      assert.equal(takes.filter((t) => t.admitted).length, 25);
      assert.deepEqual(await counters.get(buckets), [25, 25]);
      for (const v of views) await v.close();
    });
  });
}

describe('counters', () => {
  counterContract('memory', async () => {
    const clock = new ManualClock(0);
    const counters = new MemoryCounters(clock);
    return { counters, nodes: async () => counters };
  });

  test('memory: a window expires with the clock and memory stays bounded', async () => {
    const clock = new ManualClock(1_000_000);
    const counters = new MemoryCounters(clock, 2048);
    await counters.incr([key('w')]);
    clock.advance(minute_ms);
    assert.deepEqual(await counters.get([key('w')]), [0], 'expired after its window');
    for (let i = 0; i < 10_000; i++) await counters.incr([key(`flood-${i}`)]);
    assert.ok(counters.size <= 2048, `size ${counters.size}`);
    clock.advance(minute_ms);
    await counters.incr([key('after')]);
    for (let i = 0; i < 2000; i++) await counters.incr([key(`later-${i}`)]);
    assert.ok(counters.size <= 2048);
    assert.deepEqual(await counters.get([key('later-1999')]), [1], 'the newest survive');
  });

  describe('redis', async () => {
    if (!(await redisAvailable())) {
      test.skip(redis_unavailable_message);
      return;
    }
    const opened: RedisCounters[] = [];
    after(async () => {
      for (const c of opened) await c.close();
    });
    counterContract('redis (shared by nodes)', async () => {
      const prefix = freshPrefix();
      const make = () => {
        const c = testRedisCounters(prefix);
        opened.push(c);
        return c;
      };
      const counters = make();
      await connected(counters);
      const node = async () => {
        const c = make();
        await connected(c);
        return c;
      };
      return { counters, nodes: node };
    });

    test('redis: keys expire with their window (PEXPIRE set on first count)', async () => {
      const counters = testRedisCounters();
      opened.push(counters);
      await connected(counters);
      await counters.incr([{ key: 'short', window_ms: 50 }]);
      await counters.take([{ key: 'short-take', limit: 5, window_ms: 50 }]);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(
        await counters.get([
          { key: 'short', window_ms: 50 },
          { key: 'short-take', window_ms: 50 },
        ]),
        [0, 0],
      );
    });
  });

  describe('redis answering late or going away mid-request', async () => {
    if (!(await redisAvailable())) {
      test.skip(redis_unavailable_message);
      return;
    }
    /** Counters through a proxy, and a direct view of the same keys to read what Redis holds. */
    async function throughProxy() {
      const proxy = await redisProxy();
      const prefix = freshPrefix();
      const counters = new RedisCounters({ url: proxy.url, key_prefix: prefix, command_timeout_ms: 100 });
      const direct = testRedisCounters(prefix);
      await connected(counters);
      await connected(direct);
      const done = async () => {
        await counters.close();
        await direct.close();
        proxy.close();
      };
      return { proxy, counters, direct, done };
    }

    test('a take Redis counted but answered too late is undone once Redis answers', async () => {
      const { proxy, counters, direct, done } = await throughProxy();
      const b = [key('late', 1)];
      proxy.delay(400);
      await assert.rejects(counters.take(b), CountersUnavailable);
      proxy.delay(0);
      await proxy.drained();
      await waitFor(() => counters.pendingUndos === 0, 5000, 'the undo to be answered');
      assert.deepEqual(await direct.get(b), [0], 'the failed take holds no place');
      assert.equal((await direct.take(b)).admitted, true);
      await done();
    });

    test('a give-back that fails while Redis is away is made once Redis is back, and only once', async () => {
      const { proxy, counters, direct, done } = await throughProxy();
      const b = [key('away', 2)];
      const mine = await counters.take(b);
      assert.equal(mine.admitted, true);
      assert.equal((await direct.take(b)).admitted, true);
      proxy.down();
      await assert.rejects(counters.giveBack(b, mine.token), CountersUnavailable);
      assert.deepEqual(await direct.get(b), [2], 'Redis kept both places meanwhile');
      proxy.up();
      await waitFor(() => counters.pendingUndos === 0, 10_000, 'Redis to come back and the give-back to be made');
      assert.deepEqual(await direct.get(b), [1], "the other take's place stays");
      await counters.giveBack(b, mine.token);
      assert.deepEqual(await direct.get(b), [1], 'a second give-back of one take frees nothing more');
      await done();
    });
  });

  test('redis down: every call fails fast with CountersUnavailable and nothing is thrown unhandled', async () => {
    const errors: Error[] = [];
    const counters = new RedisCounters({ url: dead_redis_url, onError: (e) => errors.push(e) });
    assert.equal(await counters.ready(300), false);
    const b = [key('x')];
    for (const call of [
      () => counters.get(b),
      () => counters.incr(b),
      () => counters.take(b),
      () => counters.giveBack(b),
    ]) {
      await assert.rejects(call(), (e: unknown) => e instanceof CountersUnavailable && /Redis/.test(e.message));
    }
    assert.ok(errors.length >= 1, 'the connection error was reported to onError');
    await counters.close();
  });
});
