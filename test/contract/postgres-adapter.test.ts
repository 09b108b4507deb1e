import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Build, emptyLoad } from '../../src/store/contract/builders.ts';
import { apartSnapshot, overlappingSnapshots } from '../../src/store/contract/snapshot-contract.ts';
import { openStore } from '../../src/store/open-store.ts';
import { StoreUnavailable, UniqueViolation } from '../../src/store/port.ts';
import { mapPgError } from '../../src/store/postgres/pg-errors.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { int } from '../../src/store/postgres/rows.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

/** What only the PostgreSQL adapter has: error mapping, int8 parsing, concurrent migration, lost connections. */
describe('PostgresStore without a server', () => {
  test('an unreachable server is StoreUnavailable for reads, batches and migrate', async () => {
    const store = new PostgresStore({ url: 'postgres://postgres@127.0.0.1:1/none', connect_timeout_ms: 1000 });
    try {
      await assert.rejects(store.getCampaign('cmp_x'), StoreUnavailable);
      await assert.rejects(
        store.runBatch(
          'cmp_x',
          () => emptyLoad(),
          () => ({ writes: null, result: 1 }),
        ),
        StoreUnavailable,
      );
      await assert.rejects(store.migrate(), StoreUnavailable);
    } finally {
      await store.close();
    }
  });

  test('driver errors map onto the port: shutdown, crash, cancel and connection classes, unique violations', () => {
    const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });
    // 57P01-05: admin shutdown, crash shutdown, cannot connect now, database dropped, idle session timeout.
    // 57014: query cancelled (statement_timeout, pg_cancel_backend); 40001 serialization failure,
    // 40P01 deadlock victim, 55P03 lock_timeout: each transaction rolled back whole, a retry is safe.
    const transient = ['57P01', '57P02', '57P03', '57P04', '57P05', '57014', '40001', '40P01', '55P03'];
    for (const code of [...transient, '08006', '53300', 'ECONNRESET']) {
      assert.ok(mapPgError(pgError(code)) instanceof StoreUnavailable, code);
    }
    assert.ok(mapPgError(new Error('Connection terminated unexpectedly')) instanceof StoreUnavailable);
    assert.ok(mapPgError(pgError('23505')) instanceof UniqueViolation);
    // Wrong queries, raised exceptions and bad data are bugs (500), never "retry later".
    for (const code of ['42601', 'P0001', '22003', '22P02', '23514']) {
      const err = pgError(code);
      assert.equal(mapPgError(err), err, code);
    }
  });

  test('int8 values must be safe integers: money never loses precision silently', () => {
    assert.equal(int('9007199254740991'), Number.MAX_SAFE_INTEGER);
    assert.equal(int(12), 12);
    assert.throws(() => int('9007199254740993'));
    assert.throws(() => int('1.5'));
  });

  test('openStore picks the adapter from the URL and refuses an unknown scheme', async () => {
    const pgStore = openStore({ database_url: 'postgresql://postgres@127.0.0.1:5432/x', data_dir: '/tmp' });
    assert.equal(pgStore.kind, 'postgres');
    await pgStore.close();
    assert.equal(openStore({ database_url: 'postgres://h/x', data_dir: '/tmp' }).kind, 'postgres');
    assert.throws(
      () => openStore({ database_url: 'mysql://user:secret@h/x', data_dir: '/tmp' }),
      (e: Error) => !e.message.includes('secret'),
    );
    const data_dir = mkdtempSync(join(tmpdir(), 'vouchsafe-open-store-'));
    try {
      const embedded = openStore({ data_dir });
      assert.ok(embedded instanceof SqliteStore);
      await embedded.close();
      assert.ok(existsSync(join(data_dir, 'vouchsafe.db')));
    } finally {
      rmSync(data_dir, { recursive: true, force: true });
    }
  });
});

const db = await createTestDatabase();
after(() => db?.drop());

/**
 * pg_terminate_backend only signals the backends: under load a pooled connection may still look
 * alive and be handed out before its end arrives. Such a call must fail as StoreUnavailable (a
 * 503 with Retry-After), never otherwise, and the store must recover by itself within as many
 * calls as connections were killed.
 */
async function recovers<T>(call: () => Promise<T>, killed: number): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await call();
    } catch (err) {
      assert.ok(err instanceof StoreUnavailable, `only StoreUnavailable, got ${String(err)}`);
      assert.ok(failures < killed, `still failing after ${failures + 1} calls; ${killed} connections were killed`);
      await sleep(20);
    }
  }
}

describe('PostgresStore on a server', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const url = db.url;

  test('concurrent migrate from several processes applies the schema once', async () => {
    const stores = Array.from({ length: 4 }, () => new PostgresStore({ url }));
    try {
      await Promise.all(stores.map((s) => s.migrate()));
      await Promise.all(stores.map((s) => s.migrate()));
      assert.equal(await stores[0]?.countApiKeys(), 0);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('putIdempotency returns only a stored record: a record deleted between its insert and its read is inserted anew', async () => {
    const store = new PostgresStore({ url });
    await store.migrate();
    const other = new PostgresStore({ url });
    try {
      const key = `race-${Date.now()}`;
      await other.putIdempotency({ key, fingerprint: 'f', result: { pending: 'a', beat: 0 }, created_at_ms: 1 });
      // Another node releases its claim just after this node's insert found it there.
      type Db = { query: (sql: string, params?: unknown[]) => Promise<unknown> };
      type Write = <T>(body: (db: Db) => Promise<T>) => Promise<T>;
      const inner = (store as unknown as { write: Write }).write;
      let released = false;
      (store as unknown as { write: Write }).write = (body) =>
        inner((db) =>
          body({
            query: async (sql, params) => {
              const res = await db.query(sql, params);
              if (!released && sql.startsWith('INSERT INTO idempotency')) {
                released = true;
                assert.equal(await other.swapIdempotency(key, { pending: 'a', beat: 0 }, null), true);
              }
              return res;
            },
          }),
        );
      const mine = { key, fingerprint: 'f', result: { pending: 'b', beat: 0 }, created_at_ms: 2 };
      const got = await store.putIdempotency(mine);
      assert.ok(released, 'the release ran between the statements');
      assert.deepEqual(got, mine);
      assert.deepEqual(await other.getIdempotency(key), mine, 'what it returned is what is stored');
    } finally {
      await store.close();
      await other.close();
    }
  });

  test('a batch audit entry and the campaign doc are compressed with lz4 where the server has it (migration 110)', async () => {
    const store = new PostgresStore({ url });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await store.migrate();
      const lz4 = await admin.query(
        "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)",
      );
      const methods = await admin.query(`SELECT attrelid::regclass::text AS tbl, attcompression AS m FROM pg_attribute
        WHERE (attrelid, attname) IN (('audit'::regclass, 'data_json'), ('campaigns'::regclass, 'doc')) ORDER BY 1`);
      // 'l': lz4; '': the server's default (pglz), kept by a server built without lz4.
      const want = lz4.rowCount === 1 ? 'l' : '';
      assert.deepEqual(methods.rows, [
        { tbl: 'audit', m: want },
        { tbl: 'campaigns', m: want },
      ]);
      // A large entry is stored compressed and reads back exactly as written (its hash depends on it).
      const b = new Build();
      const { campaign, audit } = b.campaign();
      await store.insertCampaign(campaign, audit, [], null);
      const data = JSON.stringify({
        changes: Array.from({ length: 2000 }, (_, i) => ({ subject: `red_${i}`, d: 100 })),
      });
      await admin.query(
        `INSERT INTO audit (chain, chain_seq, at_ms, actor, action, subject, data_json, prev_hash, hash)
         VALUES ('chain_lz4', 1, 0, NULL, 'batch', 'x', $1, '', 'h')`,
        [data],
      );
      const back = await admin.query(
        "SELECT data_json, pg_column_compression(data_json) AS m FROM audit WHERE chain = 'chain_lz4'",
      );
      assert.equal(back.rows[0]?.data_json, data);
      assert.equal(back.rows[0]?.m, lz4.rowCount === 1 ? 'lz4' : 'pglz');
    } finally {
      await admin.query("DELETE FROM audit WHERE chain = 'chain_lz4'");
      await admin.end();
      await store.close();
    }
  });

  test('a batch whose connection the server kills (57P01) fails as StoreUnavailable, and the next one works', async () => {
    const store = new PostgresStore({ url });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await store.migrate();
      const b = new Build();
      const { campaign, audit } = b.campaign();
      await store.insertCampaign(campaign, audit, [], null);
      // Hold the campaign row so the batch waits on its lock, then kill the waiting backend.
      await admin.query('BEGIN');
      await admin.query('SELECT 1 FROM campaigns WHERE id = $1 FOR UPDATE', [campaign.id]);
      // Its outcome is taken at once: it may fail while the kill below is still being answered.
      const batch = store
        .runBatch(
          campaign.id,
          () => emptyLoad(),
          () => ({ writes: null, result: 'ran' }),
        )
        .then(
          (r) => r,
          (err: unknown) => err,
        );
      const waiting =
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
      for (let i = 0; i < 200 && (await admin.query(waiting)).rowCount === 0; i++) await sleep(10);
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM (${waiting}) w`);
      assert.ok((killed.rowCount ?? 0) >= 1, 'the waiting batch was killed');
      const outcome = await batch;
      assert.ok(outcome instanceof StoreUnavailable, `the killed batch: ${String(outcome)}`);
      await admin.query('ROLLBACK');
      const next = () =>
        store.runBatch(
          campaign.id,
          () => emptyLoad(),
          () => ({ writes: null, result: 'ran' }),
        );
      assert.equal(await recovers(next, killed.rowCount ?? 0), 'ran');
    } finally {
      await admin.end();
      await store.close();
    }
  });

  test('readSnapshotApart reads on its pinned connection while the store commits through the pool', async () => {
    const store = new PostgresStore({ url });
    try {
      await store.migrate();
      await apartSnapshot(store);
    } finally {
      await store.close();
    }
  });

  test('overlapping readSnapshot calls share one snapshot until the last one ends, whichever ends first', async () => {
    const store = new PostgresStore({ url });
    const writer = new PostgresStore({ url });
    try {
      await store.migrate();
      await overlappingSnapshots(store, writer);
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const open_tx =
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND state LIKE '%in transaction%'";
      assert.equal(
        (await admin.query(open_tx)).rowCount,
        0,
        'the snapshot was committed and its connection given back',
      );
      await admin.end();
    } finally {
      await Promise.all([store.close(), writer.close()]);
    }
  });

  test('a snapshot holds only its own reads: the rest of the process reads and writes the live database meanwhile', async () => {
    const store = new PostgresStore({ url });
    try {
      await store.migrate();
      const b = new Build();
      const before = await store.campaignIds();
      let release = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let opened = () => {};
      const isOpen = new Promise<void>((resolve) => {
        opened = resolve;
      });
      const snapshot = store.readSnapshot(async () => {
        const first = await store.campaignIds();
        opened();
        await held;
        return { first, last: await store.campaignIds() };
      });
      await isOpen;
      // Outside the snapshot, on the same store, while it is open (a request beside GET /v1/audit/verify):
      const { campaign, audit } = b.campaign();
      await store.insertCampaign(campaign, audit, [], null);
      assert.equal((await store.getCampaign(campaign.id))?.id, campaign.id, 'a read outside sees the live row');
      await store.insertEvents([{ id: 'evt_snapshot_1', type: 'audit.digest', created_at_ms: 1, data: {} }]);
      assert.equal((await store.pendingOutbox(10)).length, 1, 'a read outside sees the live outbox');
      // A write through the plain query path (the dispatcher's attempt record) is not refused as read-only.
      await store.recordAttempt({
        event_id: 'evt_none',
        webhook_id: 'whk_none',
        attempt: 1,
        status: 'delivered',
        status_code: 200,
        error: null,
        next_attempt_at_ms: null,
        at_ms: 1,
      });
      release();
      const seen = await snapshot;
      assert.deepEqual(seen, { first: before, last: before }, 'inside, still the one snapshot');
      assert.equal((await store.campaignIds()).length, before.length + 1);
    } finally {
      await store.close();
    }
  });

  test('connections killed by the server (57P01) are replaced: the store keeps working', async () => {
    const store = new PostgresStore({ url });
    try {
      await store.migrate();
      await Promise.all(Array.from({ length: 5 }, () => store.campaignIds()));
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      await admin.end();
      assert.ok(killed.rowCount && killed.rowCount > 0);
      assert.ok(Array.isArray(await recovers(() => store.campaignIds(), killed.rowCount)));
      // Recovered for good: a burst of calls all work.
      const burst = await Promise.all(Array.from({ length: 10 }, () => store.campaignIds()));
      assert.ok(burst.every(Array.isArray));
    } finally {
      await store.close();
    }
  });
});
