import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { Rejection } from '../../src/domain/errors.ts';
import { type ClaimTiming, type HttpReply, StoredReplies } from '../../src/http/idempotency.ts';
import { HeldClaim } from '../../src/http/idempotency-claim.ts';
import type { ApiKeyRecord, Store } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, freshPostgresStore, pg_unavailable_message } from '../support/pg.ts';

/**
 * StoredReplies claims an Idempotency-Key in the store before it acts, so two nodes (here: two
 * StoredReplies over one database) act once per key.
 */

const api_key: ApiKeyRecord = {
  id: 'key_claims',
  name: 'claims',
  hash: 'h',
  scopes: ['admin'],
  created_at_ms: 0,
  revoked_at_ms: null,
  created_by: null,
  replaces: null,
};

function request(idem: string, body: unknown): FastifyRequest {
  const url = '/v1/things';
  return {
    method: 'POST',
    url,
    routeOptions: { url },
    params: {},
    headers: { 'idempotency-key': idem },
    body,
    api_key,
  } as unknown as FastifyRequest;
}

/** A produce() that counts its runs and, if gated, finishes only when released. */
function work(label: string, gated = false) {
  let release = (): void => undefined;
  const gate = gated ? new Promise<void>((resolve) => (release = resolve)) : Promise.resolve();
  const w = {
    runs: 0,
    release: () => release(),
    produce: async (): Promise<HttpReply> => {
      w.runs++;
      await gate;
      return { status: 201, body: { made_by: label } };
    },
  };
  return w;
}

/** Awaits a request that must fail with this Rejection (by default: its key is in use), and returns it. */
async function refused(answer: Promise<unknown>, code = 'idempotency_key_reused'): Promise<Rejection> {
  const err = await answer.then(
    (value) => assert.fail(`expected ${code}, got an answer: ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof Rejection && err.code === code, String(err));
  return err;
}

async function claimed(store: Store, key: string): Promise<void> {
  for (let i = 0; i < 400 && !(await store.getIdempotency(key)); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(await store.getIdempotency(key), 'the first request claimed its key');
}

/** The store, failing every call while `down.now` is true (an outage, for every node alike). */
function flaky(inner: Store, down: { now: boolean }): Store {
  return new Proxy(inner, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => (down.now ? Promise.reject(new Error('store down')) : value.apply(target, args));
    },
  });
}

function nodes(store: Store, clock: { now: number }, timing: Partial<ClaimTiming> = {}) {
  const t: ClaimTiming = { wait_ms: 10_000, stale_ms: 300_000, ...timing };
  // The test's clock is both the wall clock and the monotonic one.
  const node = () =>
    new StoredReplies(
      store,
      () => clock.now,
      t,
      () => clock.now,
    );
  return [node(), node(), node()] as const;
}

function claimTests(name: string, open: () => Promise<Store | null>, skip: string | false) {
  describe(`Idempotency-Key claims across nodes (${name})`, { skip }, () => {
    test('a retry on another node waits for the first answer and replays it; the work runs once', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b] = nodes(store, clock);
      const first = work('a', true);
      const second = work('b');
      const pa = a.once(request('k1', { n: 1 }), first.produce);
      await claimed(store, 'key_claims:k1');
      const pb = b.once(request('k1', { n: 1 }), second.produce);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(second.runs, 0, 'the retry waits while the first is in progress');
      first.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
      assert.deepEqual(await pb, { status: 201, body: { made_by: 'a' } });
      assert.deepEqual([first.runs, second.runs], [1, 0]);
      await store.close();
    });

    test('another body under a claimed key is 409 at once; a retry gives up after the wait with Retry-After', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b] = nodes(store, clock, { wait_ms: 150 });
      const first = work('a', true);
      const pa = a.once(request('k2', { n: 1 }), first.produce);
      await claimed(store, 'key_claims:k2');
      await refused(b.once(request('k2', { n: 2 }), work('b').produce));
      const waited = work('b');
      const started = Date.now();
      const late = await refused(b.once(request('k2', { n: 1 }), waited.produce));
      assert.ok(Date.now() - started >= 140, 'it waited');
      assert.equal(late.retry_after_s, 1);
      assert.equal(waited.runs, 0);
      first.release();
      await pa;
      await store.close();
    });

    test('a refusal is the answer: replayed on another node without running, another body is 409', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b] = nodes(store, clock);
      const first = a.once(request('k3', {}), async () => {
        throw new Rejection('invalid_state', 'not now', 'status');
      });
      await refused(first, 'invalid_state');
      const retry = work('b');
      const replayed = await b.once(request('k3', {}), retry.produce);
      assert.deepEqual(replayed, {
        status: 409,
        body: { error: { code: 'invalid_state', message: 'not now', param: 'status' } },
      });
      assert.equal(retry.runs, 0, 'the retry did not act again');
      await refused(b.once(request('k3', { other: true }), retry.produce));
      await store.close();
    });

    for (const [label, failure] of [
      ['a crash', new Error('boom')],
      ['an invalid request', new Rejection('invalid_request', 'bad field', 'field')],
      ['a rate limit', new Rejection('too_many_attempts', 'wait', undefined, 60)],
      ['an unavailable store', new Rejection('store_unavailable', 'down', undefined, 1)],
    ] as const) {
      test(`${label} releases the key: the retry on another node runs`, async () => {
        const store = (await open()) as Store;
        const clock = { now: 1_000 };
        const [a, b] = nodes(store, clock);
        const failed = a.once(request('k3', {}), async () => {
          throw failure;
        });
        await assert.rejects(failed, (e) => e === failure);
        // The release may finish after the answer (a store slower than a second): wait for it.
        await a.drain(60_000);
        assert.equal(await store.getIdempotency('key_claims:k3'), null, 'nothing kept for a failed request');
        const retry = work('b');
        assert.deepEqual(await b.once(request('k3', {}), retry.produce), { status: 201, body: { made_by: 'b' } });
        assert.equal(retry.runs, 1);
        await store.close();
      });
    }

    test('the claim of a node that died is taken over once stale, and then replayed', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b, c] = nodes(store, clock, { wait_ms: 100, stale_ms: 60_000 });
      const dead = work('a', true);
      const pa = a.once(request('k4', {}), dead.produce);
      await claimed(store, 'key_claims:k4');
      await refused(b.once(request('k4', {}), work('b').produce));
      // Watched (sightings at most half the stale time apart) and unchanged for the stale time.
      clock.now += 30_000;
      await refused(b.once(request('k4', {}), work('b').produce));
      clock.now += 30_000;
      const taker = work('b');
      assert.deepEqual(await b.once(request('k4', {}), taker.produce), { status: 201, body: { made_by: 'b' } });
      assert.equal(taker.runs, 1);
      const third = work('c');
      assert.deepEqual(await c.once(request('k4', {}), third.produce), { status: 201, body: { made_by: 'b' } });
      assert.equal(third.runs, 0);
      // The first node finishes after all: its late answer does not replace the stored one.
      dead.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
      await a.drain(60_000);
      assert.deepEqual((await store.getIdempotency('key_claims:k4'))?.result, {
        http: { status: 201, body: { made_by: 'b' } },
      });
      await store.close();
    });

    test('a claim whose node is still working is renewed, so it never goes stale', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      // A renewal every stale_ms / 4 = 50 ms of real time.
      const [a, b] = nodes(store, clock, { wait_ms: 100, stale_ms: 200 });
      const slow = work('a', true);
      const pa = a.once(request('k6', {}), slow.produce);
      await claimed(store, 'key_claims:k6');
      await refused(b.once(request('k6', {}), work('b').produce));
      // Past the stale time on b's clock; a's renewals change the claim meanwhile.
      clock.now += 200;
      const before = JSON.stringify((await store.getIdempotency('key_claims:k6'))?.result);
      const renewed = async () => JSON.stringify((await store.getIdempotency('key_claims:k6'))?.result) !== before;
      for (let i = 0; i < 200 && !(await renewed()); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(await renewed(), 'the working node renewed its claim');
      const retry = work('b');
      await refused(b.once(request('k6', {}), retry.produce));
      assert.equal(retry.runs, 0, 'no takeover of a live claim');
      slow.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
      // An answer is stored within a second or goes on in the background: on a loaded machine, wait for it.
      await a.drain(60_000);
      assert.deepEqual((await store.getIdempotency('key_claims:k6'))?.result, {
        http: { status: 201, body: { made_by: 'a' } },
      });
      await store.close();
    });

    test('a node whose clock runs ahead does not take over a live claim on first sight', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const ahead = { now: 1_000 + 3_600_000 };
      const [a] = nodes(store, clock, { wait_ms: 100, stale_ms: 60_000 });
      const [b] = nodes(store, ahead, { wait_ms: 100, stale_ms: 60_000 });
      const slow = work('a', true);
      const pa = a.once(request('k7', {}), slow.produce);
      await claimed(store, 'key_claims:k7');
      const retry = work('b');
      await refused(b.once(request('k7', {}), retry.produce));
      assert.equal(retry.runs, 0);
      slow.release();
      await pa;
      await store.close();
    });

    test('a retry on the node that is working on its key gets the same 409 after the wait, not a queue', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a] = nodes(store, clock, { wait_ms: 150 });
      const slow = work('a', true);
      const pa = a.once(request('k8', {}), slow.produce);
      await claimed(store, 'key_claims:k8');
      // With the first still working, every retry here answers: none waits for the work itself.
      const retries = Promise.all([1, 2, 3].map(() => refused(a.once(request('k8', {}), work('a2').produce))));
      const bound = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000).unref());
      const got = await Promise.race([retries, bound]);
      assert.ok(Array.isArray(got) && got.length === 3, String(got));
      slow.release();
      await pa;
      await store.close();
    });

    test('a store that fails when the answer is ready: the answer is stored once it is back, the work ran once', async () => {
      const inner = (await open()) as Store;
      let down = false;
      const store = new Proxy(inner, {
        get(target, prop) {
          if (prop === 'swapIdempotency' && down) return async () => Promise.reject(new Error('store down'));
          const value = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const clock = { now: 1_000 };
      const [a, b] = nodes(store, clock, { wait_ms: 10_000 });
      const first = work('a', true);
      const pa = a.once(request('k9', {}), first.produce);
      await claimed(inner, 'key_claims:k9');
      down = true;
      first.release();
      // The request answers after a second of trying, and keeps trying in the background.
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
      down = false;
      const retry = work('b');
      assert.deepEqual(await b.once(request('k9', {}), retry.produce), { status: 201, body: { made_by: 'a' } });
      assert.deepEqual([first.runs, retry.runs], [1, 0]);
      await inner.close();
    });

    test('a renewal that was stored but reported failed: the claim is read back and the answer stored', async () => {
      const inner = (await open()) as Store;
      let failed_renewals = 0;
      const store = new Proxy(inner, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target);
          if (prop !== 'swapIdempotency') return typeof value === 'function' ? value.bind(target) : value;
          return async (key: string, expected: unknown, next: { result: unknown } | null) => {
            const swapped = await inner.swapIdempotency(key, expected, next as never);
            // The first renewal commits, then its answer is lost on the way back.
            if (failed_renewals === 0 && swapped && (next?.result as { beat?: number } | undefined)?.beat === 1) {
              failed_renewals++;
              throw new Error('connection lost after commit');
            }
            return swapped;
          };
        },
      });
      const clock = { now: 1_000 };
      // A renewal every 50 ms of real time.
      const [a] = nodes(store, clock, { stale_ms: 200 });
      const slow = work('a', true);
      const pa = a.once(request('k10', {}), slow.produce);
      await claimed(inner, 'key_claims:k10');
      for (let i = 0; i < 200 && failed_renewals === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(failed_renewals, 1);
      await new Promise((r) => setTimeout(r, 120)); // more renewals, from the beat read back
      slow.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
      await a.drain(60_000);
      assert.deepEqual((await inner.getIdempotency('key_claims:k10'))?.result, {
        http: { status: 201, body: { made_by: 'a' } },
      });
      await inner.close();
    });

    test('a wall clock stepped forward does not make a live claim look dead (staleness is monotonic)', async () => {
      const store = (await open()) as Store;
      const wall = { now: 1_000 };
      const mono = { now: 0 };
      const t: ClaimTiming = { wait_ms: 100, stale_ms: 60_000 };
      const a = new StoredReplies(
        store,
        () => wall.now,
        { wait_ms: 100, stale_ms: 3_600_000 },
        () => mono.now,
      );
      const b = new StoredReplies(
        store,
        () => wall.now,
        t,
        () => mono.now,
      );
      const slow = work('a', true);
      const pa = a.once(request('k11', {}), slow.produce);
      await claimed(store, 'key_claims:k11');
      await refused(b.once(request('k11', {}), work('b').produce));
      wall.now += 3_600_000; // an NTP step; no time has passed
      const retry = work('b');
      await refused(b.once(request('k11', {}), retry.produce));
      assert.equal(retry.runs, 0);
      // Now time passes: watched for the stale time, the claim (a renews hourly here) is stale.
      mono.now += 30_000;
      await refused(b.once(request('k11', {}), work('b').produce));
      mono.now += 30_000;
      const taker = work('b');
      assert.deepEqual(await b.once(request('k11', {}), taker.produce), { status: 201, body: { made_by: 'b' } });
      slow.release();
      await pa;
      await store.close();
    });

    test('an outage longer than the stale time does not make a live claim look dead', async () => {
      const inner = (await open()) as Store;
      const down = { now: false };
      const store = flaky(inner, down);
      const clock = { now: 1_000 };
      // Renewals every 100 ms of real time; stale after 400 ms of the test's clock.
      const [a, b] = nodes(store, clock, { wait_ms: 100, stale_ms: 400 });
      const slow = work('a', true);
      const pa = a.once(request('k12', {}), slow.produce);
      await claimed(inner, 'key_claims:k12');
      await refused(b.once(request('k12', {}), work('b').produce));
      // The store is down for longer than the stale time: the holder cannot renew meanwhile.
      down.now = true;
      clock.now += 500;
      await new Promise((r) => setTimeout(r, 150));
      down.now = false;
      const retry = work('b');
      await refused(b.once(request('k12', {}), retry.produce));
      assert.equal(retry.runs, 0, 'the holder was cut off, not dead');
      slow.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
      await inner.close();
    });

    test('an answer that cannot be stored still answers, and its claim stops being renewed', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a] = nodes(store, clock, { stale_ms: 200 });
      // A BigInt cannot be sealed (JSON): the work is done, its answer cannot be kept.
      const reply = { status: 201, body: { n: 1n } };
      assert.deepEqual(await a.once(request('k13', {}), async () => reply, { secret: true }), reply);
      const claim = JSON.stringify((await store.getIdempotency('key_claims:k13'))?.result);
      await new Promise((r) => setTimeout(r, 200)); // four renewal intervals
      assert.equal(JSON.stringify((await store.getIdempotency('key_claims:k13'))?.result), claim, 'not renewed');
      await store.close();
    });

    test('answers still being stored when the server closes are waited for (drain)', async () => {
      const inner = (await open()) as Store;
      const down = { now: false };
      const [a, b] = nodes(flaky(inner, down), { now: 1_000 });
      const first = work('a', true);
      const pa = a.once(request('k14', {}), first.produce);
      await claimed(inner, 'key_claims:k14');
      down.now = true;
      first.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } }, 'answered after a second of trying');
      const drained = a.drain(10_000);
      setTimeout(() => {
        down.now = false;
      }, 100);
      await drained;
      assert.deepEqual((await inner.getIdempotency('key_claims:k14'))?.result, {
        http: { status: 201, body: { made_by: 'a' } },
      });
      const retry = work('b');
      assert.deepEqual(await b.once(request('k14', {}), retry.produce), { status: 201, body: { made_by: 'a' } });
      assert.equal(retry.runs, 0);
      await inner.close();
    });

    test('many concurrent requests with one key over three nodes: one runs, all get its answer', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b, c] = nodes(store, clock);
      const pick = (i: number) => (i % 3 === 0 ? a : i % 3 === 1 ? b : c);
      let runs = 0;
      const produce = async (): Promise<HttpReply> => {
        runs++;
        await new Promise((r) => setTimeout(r, 30));
        return { status: 201, body: { run: runs } };
      };
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => pick(i).once(request('k5', { same: true }), produce)),
      );
      assert.equal(runs, 1);
      for (const answer of answers) assert.deepEqual(answer, { status: 201, body: { run: 1 } });
      await store.close();
    });
  });
}

claimTests('sqlite', async () => new SqliteStore({ path: ':memory:' }), false);

const db = await createTestDatabase();
after(() => db?.drop());
claimTests(
  'postgres',
  async () => {
    if (!db) return null;
    await (await freshPostgresStore(db)).close();
    return new PostgresStore({ url: db.url });
  },
  db ? false : pg_unavailable_message,
);

test('settling a claim gives up at its deadline when a write hangs (a connection gone silent)', async () => {
  const hung = {
    swapIdempotency: () => new Promise<boolean>(() => undefined),
    getIdempotency: () => new Promise<null>(() => undefined),
  };
  const held = new HeldClaim(hung, 'k', { pending: 'p', beat: 0 }, () => 0, 60_000);
  // settle's own timers do not hold the process open; this one does, until the race is decided.
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise((resolve) => {
    timer = setTimeout(() => resolve('still waiting'), 5_000);
  });
  const settled = await Promise.race([held.settle({ http: { status: 200, body: {} } }, 100), bound]);
  clearTimeout(timer);
  assert.equal(settled, false);
});
