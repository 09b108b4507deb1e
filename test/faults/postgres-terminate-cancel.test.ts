import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { StoreUnavailable } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { activeCampaign, assertInvariants, type HttpHarness, httpHarness } from '../http/harness.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

const db = await createTestDatabase();
after(() => db?.drop());

const wait_ms_max = 5000;

/** Polls until `check` holds. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let waited_ms = 0; waited_ms < wait_ms_max; waited_ms += 10) {
    if (await check()) return;
    await sleep(10);
  }
  throw new Error(`no ${what} within ${wait_ms_max} ms`);
}

/** The one backend of this database, other than `admin`'s own, that matches `where`. */
async function backendWhere(admin: pg.Client, where: string, what: string): Promise<number> {
  const sql = `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND ${where}`;
  let pids: number[] = [];
  await until(async () => {
    pids = (await admin.query<{ pid: number }>(sql)).rows.map((r) => r.pid);
    return pids.length > 0;
  }, what);
  assert.equal(pids.length, 1, `one ${what}`);
  return pids[0] ?? 0;
}

/** Fails the test on any uncaught exception while `body` runs (node:test would too, less plainly). */
async function noUncaught(body: () => Promise<void>): Promise<void> {
  const uncaught: unknown[] = [];
  const record = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', record);
  try {
    await body();
    // The socket's end ('Connection terminated unexpectedly') comes after the server's FATAL message.
    await sleep(100);
  } finally {
    process.removeListener('uncaughtException', record);
  }
  assert.deepEqual(uncaught.map(String), [], 'no uncaughtException');
}

describe('PostgreSQL backends terminated or cancelled under the store', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const url = db.url;

  /**
   * A readSnapshot whose backend is terminated after its first read and gone before the
   * second: the client hears it while idle in its transaction, which used to be an
   * 'error' with no listener (an uncaughtException). `second` is that second read.
   */
  async function snapshotKilledBetweenReads(second: (store: PostgresStore) => Promise<unknown>): Promise<void> {
    // One connection: the read after the failure gets it only if the snapshot's was let go.
    const store = new PostgresStore({ url, pool_connections_max: 1, connect_timeout_ms: 2000 });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await store.migrate();
      await noUncaught(async () => {
        const snapshot = store.readSnapshot(async () => {
          assert.deepEqual(await store.campaignIds(), []);
          const pid = await backendWhere(admin, "state = 'idle in transaction'", 'snapshot backend');
          await admin.query('SELECT pg_terminate_backend($1)', [pid]);
          const alive = 'SELECT 1 FROM pg_stat_activity WHERE pid = $1';
          await until(async () => (await admin.query(alive, [pid])).rowCount === 0, 'backend exit');
          await sleep(50);
          return second(store);
        });
        await assert.rejects(snapshot, (err: unknown) => {
          assert.ok(err instanceof StoreUnavailable, `StoreUnavailable, got ${String(err)}`);
          assert.match(err.message, /administrator command|terminated/);
          return true;
        });
      });
      // At once, no retry: the broken client was destroyed and the pool's one slot is free.
      assert.deepEqual(await store.campaignIds(), []);
      assert.deepEqual(await store.readSnapshot(() => store.campaignIds()), []);
    } finally {
      await admin.end();
      await store.close();
    }
  }

  test('a readSnapshot whose backend is terminated between two reads rejects StoreUnavailable; the process and the pool live on', async () => {
    await snapshotKilledBetweenReads((store) => store.campaignIds());
  });

  test('it rejects even when fn swallows the failed read: a snapshot that broke gives no answer', async () => {
    await snapshotKilledBetweenReads((store) => store.campaignIds().catch(() => ['swallowed']));
  });

  test('a backend terminated as its connection is handed from a finished read to a waiting transaction: the process lives on', async () => {
    // One connection: the write waits for the read's, and gets it the moment the read is answered.
    const store = new PostgresStore({ url, pool_connections_max: 1, connect_timeout_ms: 2000 });
    // The pool's one client, to hold its socket: the test reaches into the store for it.
    const pool = (store as unknown as { pool: pg.Pool }).pool;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await store.migrate();
      const acquired = new Promise<pg.PoolClient>((resolve) => pool.once('acquire', resolve));
      await noUncaught(async () => {
        const read = store.campaignIds();
        const client = (await acquired) as pg.PoolClient & { connection: { stream: NodeJS.ReadableStream } };
        // The read's answer and what follows it stay unread until the socket resumes.
        client.connection.stream.pause();
        const write = store.insertEvents([]);
        const pid = await backendWhere(admin, "state = 'idle'", 'backend that answered the read');
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        const alive = 'SELECT 1 FROM pg_stat_activity WHERE pid = $1';
        await until(async () => (await admin.query(alive, [pid])).rowCount === 0, 'backend exit');
        // One chunk: the read's rows and ReadyForQuery (which hands the client to the write, whose
        // await has not resumed yet), then the server's FATAL 57P01 for a client nobody listens to.
        client.connection.stream.resume();
        assert.deepEqual(await read, []);
        await assert.rejects(write, (err: unknown) => {
          assert.ok(err instanceof StoreUnavailable, `StoreUnavailable, got ${String(err)}`);
          return true;
        });
      });
      // The broken client was destroyed; the pool's one slot serves the next read and write.
      assert.deepEqual(await store.campaignIds(), []);
      await store.insertEvents([]);
    } finally {
      await admin.end();
      await store.close();
    }
  });

  /**
   * Holds an uncommitted usage row for `user_id` (on a connection of its own) so the batch of
   * `call` blocks in its usage upsert, after it has updated the campaign and inserted the
   * redemption; cancels that statement (57014) and returns what `call` settled with.
   * `admin` watches: pg_stat_activity read inside the holding transaction would not change.
   */
  async function cancelledMidBatch<T>(
    admin: pg.Client,
    campaign_id: string,
    user_id: string,
    call: () => Promise<T>,
  ): Promise<{ value: T } | { error: unknown }> {
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      const hold = 'INSERT INTO usage (campaign_id, key, count) VALUES ($1, $2, 0)';
      await holder.query(hold, [campaign_id, `user:${user_id}`]);
      const settled = call().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      const waiting = "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO usage%'";
      const pid = await backendWhere(admin, waiting, 'batch waiting in its usage upsert');
      await admin.query('SELECT pg_cancel_backend($1)', [pid]);
      return await settled;
    } finally {
      await holder.end();
    }
  }

  /** What the database holds for the campaign, and the audit and outbox sizes. */
  async function stored(admin: pg.Client, campaign_id: string) {
    const one = async (sql: string, params: unknown[] = []) => (await admin.query(sql, params)).rows[0];
    return {
      redemptions: await one('SELECT count(*) AS n FROM redemptions WHERE campaign_id = $1', [campaign_id]),
      usage: await one('SELECT count(*) AS n FROM usage WHERE campaign_id = $1', [campaign_id]),
      campaign: await one('SELECT doc FROM campaigns WHERE id = $1', [campaign_id]),
      audit: await one('SELECT count(*) AS n FROM audit'),
      outbox: await one('SELECT count(*) AS n FROM outbox'),
    };
  }

  test('a statement cancelled in a write batch (57014): the caller gets StoreUnavailable, HTTP 503 with Retry-After; nothing is stored', async () => {
    const store = new PostgresStore({ url });
    const h: HttpHarness = await httpHarness({}, {}, store);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const campaign = await activeCampaign(h, { code_mode: 'shared_code', code: 'CANCELME' });
      const order = { id: 'o1', merchant_id: 'm1', amount_minor: 10_000, currency: 'CNY', product_kind: 'merchandise' };
      const before = await stored(admin, campaign.id);

      const direct = await cancelledMidBatch(admin, campaign.id, 'u-engine', () =>
        h.engine.redeem({ user_id: 'u-engine', code: 'CANCELME', order, confirm: true }, { actor: 'key_checkout' }),
      );
      assert.ok(
        'error' in direct && direct.error instanceof StoreUnavailable,
        `engine caller: ${JSON.stringify(direct)}`,
      );
      assert.deepEqual(await stored(admin, campaign.id), before, 'nothing of the cancelled batch is stored');

      const body = { user_id: 'u-http', code: 'CANCELME', order, confirm: true };
      const res = await cancelledMidBatch(admin, campaign.id, 'u-http', () =>
        h.call<{ error: { code: string } }>('POST', '/v1/redemptions', { key: 'checkout', body }),
      );
      assert.ok('value' in res, `an HTTP answer: ${JSON.stringify(res)}`);
      const answer = res.value;
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.error.code, 'store_unavailable');
      assert.equal(answer.headers['retry-after'], '1');
      assert.deepEqual(await stored(admin, campaign.id), before, 'nothing of the cancelled batch is stored');

      // The retry the 503 asks for goes through on the same pool.
      const retried = await h.call('POST', '/v1/redemptions', { key: 'checkout', body });
      assert.equal(retried.status, 201, JSON.stringify(retried.body));
      assert.deepEqual((await stored(admin, campaign.id)).redemptions, { n: '1' });
      await assertInvariants(store);
    } finally {
      await admin.end();
      await h.engine.close();
      await store.close();
    }
  });
});
