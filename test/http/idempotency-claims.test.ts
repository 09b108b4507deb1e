import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { Rejection } from '../../src/domain/errors.ts';
import { type ClaimTiming, type HttpReply, StoredReplies } from '../../src/http/idempotency.ts';
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

async function claimed(store: Store, key: string): Promise<void> {
  for (let i = 0; i < 400 && !(await store.getIdempotency(key)); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(await store.getIdempotency(key), 'the first request claimed its key');
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
      const other = await b.once(request('k2', { n: 2 }), work('b').produce).catch((e: unknown) => e);
      assert.ok(other instanceof Rejection && other.code === 'idempotency_key_reused', String(other));
      const waited = work('b');
      const started = Date.now();
      const late = await b.once(request('k2', { n: 1 }), waited.produce).catch((e: unknown) => e);
      assert.ok(Date.now() - started >= 140, 'it waited');
      assert.ok(late instanceof Rejection && late.code === 'idempotency_key_reused', String(late));
      assert.equal(late.retry_after_s, 1);
      assert.equal(waited.runs, 0);
      first.release();
      await pa;
      await store.close();
    });

    test('a failed first request releases its key: the retry on another node runs', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b] = nodes(store, clock);
      const failed = a.once(request('k3', {}), async () => {
        throw new Rejection('invalid_state', 'not now');
      });
      await assert.rejects(failed, (e: unknown) => e instanceof Rejection && e.code === 'invalid_state');
      assert.equal(await store.getIdempotency('key_claims:k3'), null, 'nothing kept for a failed request');
      const retry = work('b');
      assert.deepEqual(await b.once(request('k3', {}), retry.produce), { status: 201, body: { made_by: 'b' } });
      assert.equal(retry.runs, 1);
      await store.close();
    });

    test('the claim of a node that died is taken over once stale, and then replayed', async () => {
      const store = (await open()) as Store;
      const clock = { now: 1_000 };
      const [a, b, c] = nodes(store, clock, { wait_ms: 100, stale_ms: 60_000 });
      const dead = work('a', true);
      const pa = a.once(request('k4', {}), dead.produce);
      await claimed(store, 'key_claims:k4');
      const early = await b.once(request('k4', {}), work('b').produce).catch((e: unknown) => e);
      assert.ok(early instanceof Rejection && early.code === 'idempotency_key_reused', 'not stale yet: 409');
      clock.now += 60_000;
      const taker = work('b');
      assert.deepEqual(await b.once(request('k4', {}), taker.produce), { status: 201, body: { made_by: 'b' } });
      assert.equal(taker.runs, 1);
      const third = work('c');
      assert.deepEqual(await c.once(request('k4', {}), third.produce), { status: 201, body: { made_by: 'b' } });
      assert.equal(third.runs, 0);
      // The first node finishes after all: its late answer does not replace the stored one.
      dead.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
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
      const seen = await b.once(request('k6', {}), work('b').produce).catch((e: unknown) => e);
      assert.ok(seen instanceof Rejection && seen.code === 'idempotency_key_reused', String(seen));
      // Past the stale time on b's clock; a's renewals change the claim meanwhile.
      clock.now += 200;
      const before = JSON.stringify((await store.getIdempotency('key_claims:k6'))?.result);
      const renewed = async () => JSON.stringify((await store.getIdempotency('key_claims:k6'))?.result) !== before;
      for (let i = 0; i < 200 && !(await renewed()); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(await renewed(), 'the working node renewed its claim');
      const retry = work('b');
      const late = await b.once(request('k6', {}), retry.produce).catch((e: unknown) => e);
      assert.ok(late instanceof Rejection && late.code === 'idempotency_key_reused', String(late));
      assert.equal(retry.runs, 0, 'no takeover of a live claim');
      slow.release();
      assert.deepEqual(await pa, { status: 201, body: { made_by: 'a' } });
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
      const late = await b.once(request('k7', {}), retry.produce).catch((e: unknown) => e);
      assert.ok(late instanceof Rejection && late.code === 'idempotency_key_reused', String(late));
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
      const retries = Promise.all(
        [1, 2, 3].map(() => a.once(request('k8', {}), work('a2').produce).catch((e: unknown) => e)),
      );
      const bound = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 5_000).unref());
      const got = await Promise.race([retries, bound]);
      assert.ok(Array.isArray(got), String(got));
      for (const e of got) assert.ok(e instanceof Rejection && e.code === 'idempotency_key_reused', String(e));
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
      const seen = await b.once(request('k11', {}), work('b').produce).catch((e: unknown) => e);
      assert.ok(seen instanceof Rejection, String(seen));
      wall.now += 3_600_000; // an NTP step; no time has passed
      const retry = work('b');
      const late = await b.once(request('k11', {}), retry.produce).catch((e: unknown) => e);
      assert.ok(late instanceof Rejection && late.code === 'idempotency_key_reused', String(late));
      assert.equal(retry.runs, 0);
      mono.now += 60_000; // now it has: the claim (never renewed here: a's renewal is hourly) is stale
      const taker = work('b');
      assert.deepEqual(await b.once(request('k11', {}), taker.produce), { status: 201, body: { made_by: 'b' } });
      slow.release();
      await pa;
      await store.close();
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
