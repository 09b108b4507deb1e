import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailable } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { activeCampaign, assertError, assertInvariants, httpHarness } from '../http/harness.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const db = await createTestDatabase();
after(() => db?.drop());

/** Each statement's answer is awaited this long here (the default is limits.pg_answer_wait_ms_max). */
const answer_wait_ms = 2000;
/** Far beyond the answer wait and the connect timeout: a promise still pending then hangs. */
const hang_ms = 20_000;

/** The promise's outcome, or a failure naming a hang when it has none within hang_ms. */
async function settled<T>(p: Promise<T>, what: string): Promise<{ value: T } | { error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${hang_ms} ms (hangs)`)), hang_ms);
  });
  try {
    return await Promise.race([
      p.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function assertUnavailable(outcome: { value: unknown } | { error: unknown }, what: string): void {
  assert.ok('error' in outcome, `${what}: expected a failure, got ${JSON.stringify(outcome)}`);
  assert.ok(outcome.error instanceof StoreUnavailable, `${what}: StoreUnavailable, got ${String(outcome.error)}`);
}

/**
 * A network that stops carrying packets to a live server, without a reset: the driver's writes
 * succeed and no answer ever comes. Each statement must give up after its answer wait and drop
 * its connection, rather than hold its caller (and a pool slot) until TCP gives up, minutes later.
 */
describe('PostgreSQL behind a network that silently stops carrying packets', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const target = new URL(db.url);
  const proxies: TcpProxy[] = [];
  after(() => Promise.all(proxies.map((p) => p.close())));

  async function throughProxy(): Promise<{ proxy: TcpProxy; url: string }> {
    const proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
    proxies.push(proxy);
    const url = new URL(db?.url ?? '');
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return { proxy, url: url.toString() };
  }

  test('a read, a write and a snapshot on held connections fail StoreUnavailable; once packets flow, the same pool serves again', async () => {
    const { proxy, url } = await throughProxy();
    const store = new PostgresStore({
      url,
      pool_connections_max: 3,
      connect_timeout_ms: answer_wait_ms,
      answer_wait_ms_max: answer_wait_ms,
    });
    try {
      await store.migrate();
      // Three connections open and idle: the calls below each get one that is already connected.
      await Promise.all([store.campaignIds(), store.campaignIds(), store.campaignIds()]);
      proxy.hold();
      const [read, write, snapshot] = await Promise.all([
        settled(store.campaignIds(), 'read'),
        settled(store.insertEvents([]), 'write'),
        settled(
          store.readSnapshot(() => store.campaignIds()),
          'snapshot',
        ),
      ]);
      assertUnavailable(read, 'read');
      assertUnavailable(write, 'write');
      assertUnavailable(snapshot, 'snapshot');
      proxy.release();
      // The held connections were dropped, not pooled: all three slots serve at once.
      const again = await settled(
        Promise.all([store.campaignIds(), store.insertEvents([]), store.readSnapshot(() => store.campaignIds())]),
        'after release',
      );
      assert.deepEqual(again, { value: [[], undefined, []] });
    } finally {
      proxy.release();
      await store.close();
    }
  });

  test('a redemption whose database stops answering gets 503 store_unavailable; its retry with the same Idempotency-Key redeems once; invariants hold', async () => {
    const { proxy, url } = await throughProxy();
    const store = new PostgresStore({ url, connect_timeout_ms: answer_wait_ms, answer_wait_ms_max: answer_wait_ms });
    const h = await httpHarness({}, {}, store);
    try {
      await activeCampaign(h, { code_mode: 'shared_code', code: 'SILENT' });
      const order = { id: 'o1', merchant_id: 'm1', amount_minor: 10_000, currency: 'CNY', product_kind: 'merchandise' };
      const body = { user_id: 'u1', code: 'SILENT', order, confirm: true };
      proxy.hold();
      const held = await settled(
        h.call('POST', '/v1/redemptions', { key: 'checkout', body, idem: 'silent-1' }),
        'redemption',
      );
      assert.ok('value' in held, `an HTTP answer: ${JSON.stringify(held)}`);
      assertError(held.value, 503, 'store_unavailable');
      assert.equal(held.value.headers['retry-after'], '1');
      proxy.release();
      // The held statements reach the server now, on connections already closed: none commits.
      await sleep(200);
      const retried = await h.call<{ status: string; discount_minor: number }>('POST', '/v1/redemptions', {
        key: 'checkout',
        body,
        idem: 'silent-1',
      });
      assert.equal(retried.status, 201, JSON.stringify(retried.body));
      assert.equal(retried.body.status, 'confirmed');
      const list = await h.call<{ data: unknown[] }>('GET', '/v1/redemptions', { key: 'admin' });
      assert.equal(list.body.data.length, 1, 'one redemption stored');
      await assertInvariants(store);
    } finally {
      proxy.release();
      await h.engine.close();
      await store.close();
    }
  });
});
