import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { limits } from '../../src/config/limits.ts';
import type { CampaignWire } from '../../src/http/views.ts';
import { type CampaignBudget, type Store, StoreUnavailable } from '../../src/store/port.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { createTestDatabase, pg_base_url, pg_unavailable_message, type TestDatabase } from '../support/pg.ts';
import {
  activeCampaign,
  campaignBody,
  claim,
  day_ms,
  type HttpHarness,
  httpHarness,
  iso,
  orderBody,
  t0,
} from './harness.ts';

const db = await createTestDatabase();
after(() => db?.drop());

const refresh_ms = limits.metrics_budget_refresh_ms;

async function metricsText(h: HttpHarness): Promise<string> {
  const res = await h.call<string>('GET', '/metrics', { key: 'read' });
  assert.equal(res.status, 200, String(res.body));
  return res.body;
}

/** The value of one series in a Prometheus text page; undefined when it is not there. */
function gaugeIn(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const budgetSeries = (campaign_id: string, part: string) =>
  `vouchsafe_campaign_budget_minor{campaign_id="${campaign_id}",part="${part}"}`;
const parts = ['total', 'reserved', 'spent', 'available'] as const;
const failures = 'vouchsafe_campaign_budget_refresh_failures_total';
const refreshed = 'vouchsafe_campaign_budget_refreshed_timestamp_seconds';

/** The value /metrics shows for one part of a campaign's budget; undefined: no such series. */
async function budgetGauge(h: HttpHarness, campaign_id: string, part: string): Promise<number | undefined> {
  return gaugeIn(await metricsText(h), budgetSeries(campaign_id, part));
}

/** Claims and confirms one redemption of the campaign's fixed discount (1,000 unless the campaign says otherwise). */
async function spend(h: HttpHarness, campaign_id: string, user_id: string): Promise<void> {
  const coupon = await claim(h, campaign_id, user_id);
  const r = await h.call('POST', '/v1/redemptions', {
    key: 'checkout',
    body: { user_id, code: coupon.code, order: orderBody(), confirm: true },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

interface Watch {
  reads: number;
  /** Runs before the read (a failure, a hang). */
  before: (() => Promise<void>) | null;
  /** Gets what the read found and answers in its place (a hang after the read, a campaign gone). */
  after: ((found: CampaignBudget[]) => Promise<CampaignBudget[]>) | null;
}

/** The store with its campaignBudgets reads counted and, while `before` or `after` is set, wrapped in them. */
function watchedStore(inner: Store): { store: Store; watch: Watch } {
  const watch: Watch = { reads: 0, before: null, after: null };
  const store = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'campaignBudgets') {
        return async (q: { ids: string[]; limit: number }) => {
          watch.reads += 1;
          if (watch.before) await watch.before();
          const found = await target.campaignBudgets(q);
          return watch.after ? watch.after(found) : found;
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, watch };
}

/** Two API nodes (engine + app each) on one database: what one commits, the other's commit listeners never hear. */
type TwoNodes = () => Promise<[HttpHarness, HttpHarness]>;

function acrossNodes(name: string, twoNodes: TwoNodes): void {
  test(`${name}: node A's /metrics shows what node B spends, and campaigns B creates`, async () => {
    const [a, b] = await twoNodes();
    const c = await activeCampaign(a, { budget_minor: 100_000 });
    assert.equal(await budgetGauge(a, c.id, 'spent'), 0);
    await spend(b, c.id, 'u1');
    await spend(b, c.id, 'u2');
    a.clock.advance(refresh_ms);
    assert.equal(await budgetGauge(a, c.id, 'spent'), 2000);
    assert.equal(await budgetGauge(a, c.id, 'available'), 98_000);
    assert.equal(await budgetGauge(a, c.id, 'total'), 100_000);

    // A campaign A never touched: a draft, then live and spending, all on B.
    const created = await b.call<CampaignWire>('POST', '/v1/campaigns', {
      body: campaignBody({ budget_minor: 50_000 }),
    });
    assert.equal(created.status, 201);
    const d = created.body;
    a.clock.advance(refresh_ms);
    assert.equal(await budgetGauge(a, d.id, 'total'), 50_000);
    assert.equal(await budgetGauge(a, d.id, 'available'), 50_000);
    assert.equal((await b.call('POST', `/v1/campaigns/${d.id}/submit`)).status, 200);
    await spend(b, d.id, 'u3');
    a.clock.advance(refresh_ms);
    assert.equal(await budgetGauge(a, d.id, 'spent'), 1000);

    // Revoked on B: A's next read finds it so and drops its series (no campaign that is over keeps any);
    // the live one keeps its own.
    assert.equal((await b.call('POST', `/v1/campaigns/${c.id}/revoke`, { body: { reason: 'done' } })).status, 200);
    a.clock.advance(refresh_ms);
    const text = await metricsText(a);
    for (const part of parts) assert.equal(gaugeIn(text, budgetSeries(c.id, part)), undefined, part);
    assert.equal(gaugeIn(text, budgetSeries(d.id, 'spent')), 1000);
    assert.equal(gaugeIn(text, failures), 0);
    assert.equal(gaugeIn(text, refreshed), a.clock.now() / 1000);
  });
}

describe('budget gauges on /metrics', () => {
  test('an Idempotency-Key replay answers the campaign as it was then; the gauges keep the newer figures', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h, { budget_minor: 100_000 });
    const pause = { body: { reason: 'check' }, idem: 'pause-once' };
    assert.equal((await h.call('POST', `/v1/campaigns/${c.id}/pause`, pause)).status, 200);
    assert.equal((await h.call('POST', `/v1/campaigns/${c.id}/resume`)).status, 200);
    await spend(h, c.id, 'u1');
    assert.equal(await budgetGauge(h, c.id, 'spent'), 1000);
    const replay = await h.call<CampaignWire>('POST', `/v1/campaigns/${c.id}/pause`, pause);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.budget.spent_minor, 0, 'the replay is the first answer');
    assert.equal(await budgetGauge(h, c.id, 'spent'), 1000);
    assert.equal(await budgetGauge(h, c.id, 'available'), 99_000);
  });

  test('a campaign that ends or is revoked loses its series; draft, pending, active and paused ones keep theirs', async () => {
    const h = await httpHarness();
    const revoked = await activeCampaign(h);
    const ended = await activeCampaign(h, { ends_at: iso(t0 + day_ms) });
    const active = await activeCampaign(h);
    const paused = await activeCampaign(h);
    const draft = (await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody() })).body;
    // Above the approval threshold: it waits for an approver.
    const big = { budget_minor: 2_000_000, max_redemptions: 5000 };
    const pending = (await h.call<CampaignWire>('POST', '/v1/campaigns', { body: campaignBody(big) })).body;
    const submitted = await h.call<CampaignWire>('POST', `/v1/campaigns/${pending.id}/submit`);
    assert.equal(submitted.body.status, 'pending_approval');
    const pause = { body: { reason: 'check' }, idem: 'pause-before-revoke' };
    assert.equal((await h.call('POST', `/v1/campaigns/${revoked.id}/pause`, pause)).status, 200);
    assert.equal((await h.call('POST', `/v1/campaigns/${revoked.id}/resume`)).status, 200);
    assert.equal((await h.call('POST', `/v1/campaigns/${paused.id}/pause`, { body: { reason: 'x' } })).status, 200);
    await spend(h, revoked.id, 'u1');
    await spend(h, ended.id, 'u1');
    await spend(h, active.id, 'u1');
    let text = await metricsText(h);
    for (const c of [revoked, ended, active, paused, draft, pending]) {
      assert.equal(gaugeIn(text, budgetSeries(c.id, 'total')), c.budget.total_minor, c.id);
    }

    assert.equal(
      (await h.call('POST', `/v1/campaigns/${revoked.id}/revoke`, { body: { reason: 'done' } })).status,
      200,
    );
    h.clock.advance(day_ms);
    assert.equal(await h.engine.endCampaigns(), 1);
    text = await metricsText(h);
    for (const c of [revoked, ended]) {
      for (const part of parts) assert.equal(gaugeIn(text, budgetSeries(c.id, part)), undefined, `${c.id} ${part}`);
    }
    assert.equal(gaugeIn(text, budgetSeries(active.id, 'spent')), 1000);
    for (const c of [paused, draft, pending]) {
      assert.equal(gaugeIn(text, budgetSeries(c.id, 'available')), c.budget.total_minor, c.id);
    }

    // A replay answers the campaign as it was before the revoke: it brings back no series, nor does the next read.
    const replay = await h.call<CampaignWire>('POST', `/v1/campaigns/${revoked.id}/pause`, pause);
    assert.equal(replay.body.status, 'paused');
    for (const advance_ms of [0, refresh_ms]) {
      h.clock.advance(advance_ms);
      text = await metricsText(h);
      for (const part of parts) assert.equal(gaugeIn(text, budgetSeries(revoked.id, part)), undefined, part);
    }
    assert.equal(gaugeIn(text, budgetSeries(active.id, 'spent')), 1000);
    assert.equal(gaugeIn(text, failures), 0);
  });

  test('a campaign gone from the store loses its series at the next read', async () => {
    const { store, watch } = watchedStore(new SqliteStore({ path: ':memory:' }));
    const h = await httpHarness({}, {}, store);
    const gone = await activeCampaign(h);
    const kept = await activeCampaign(h);
    assert.equal(await budgetGauge(h, gone.id, 'total'), 100_000);
    watch.after = async (found) => found.filter((b) => b.id !== gone.id);
    h.clock.advance(refresh_ms);
    const text = await metricsText(h);
    for (const part of parts) assert.equal(gaugeIn(text, budgetSeries(gone.id, part)), undefined, part);
    assert.equal(gaugeIn(text, budgetSeries(kept.id, 'total')), 100_000);
  });

  test('a read taken before a revoke and answered after it brings back no series', { timeout: 30_000 }, async () => {
    const { store, watch } = watchedStore(new SqliteStore({ path: ':memory:' }));
    const h = await httpHarness({}, {}, store);
    const c = await activeCampaign(h);
    await spend(h, c.id, 'u1');
    assert.equal(await budgetGauge(h, c.id, 'spent'), 1000);

    // The read finds c active, then does not answer; the scrape waits at most limits.metrics_budget_wait_ms_max.
    let answer: () => void = () => undefined;
    watch.after = async (found) => {
      await new Promise<void>((resolve) => (answer = resolve));
      return found;
    };
    h.clock.advance(refresh_ms);
    assert.equal(await budgetGauge(h, c.id, 'spent'), 1000);
    assert.equal((await h.call('POST', `/v1/campaigns/${c.id}/revoke`, { body: { reason: 'done' } })).status, 200);
    watch.after = null;
    answer();
    const text = await metricsText(h);
    assert.equal(watch.reads, 2, 'the next scrape joins the read in flight');
    for (const part of parts) assert.equal(gaugeIn(text, budgetSeries(c.id, part)), undefined, part);
  });

  // Embedded: another engine on the store stands in for whatever this process did not commit
  // (a restart, another process on the SQLite file).
  acrossNodes('sqlite', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    return [await httpHarness({}, {}, store), await httpHarness({}, {}, store)];
  });

  test('a scrape storm reads the store once per refresh interval', async () => {
    const { store, watch } = watchedStore(new SqliteStore({ path: ':memory:' }));
    const h = await httpHarness({}, {}, store);
    await activeCampaign(h);
    assert.equal(watch.reads, 0, 'no read before a scrape');
    await Promise.all(Array.from({ length: 20 }, () => metricsText(h)));
    assert.equal(watch.reads, 1);
    h.clock.advance(refresh_ms - 1);
    await metricsText(h);
    assert.equal(watch.reads, 1);
    h.clock.advance(1);
    await Promise.all(Array.from({ length: 20 }, () => metricsText(h)));
    assert.equal(watch.reads, 2);
  });

  test('a store read that fails or does not answer: /metrics answers 200 with the last figures', {
    timeout: 30_000,
  }, async () => {
    const shared = new SqliteStore({ path: ':memory:' });
    const { store, watch } = watchedStore(shared);
    const a = await httpHarness({}, {}, store);
    const b = await httpHarness({}, {}, shared);
    const c = await activeCampaign(a, { budget_minor: 100_000 });
    await spend(b, c.id, 'u1');
    assert.equal(await budgetGauge(a, c.id, 'spent'), 1000);
    const refreshed_s = a.clock.now() / 1000;

    watch.before = () => Promise.reject(new StoreUnavailable('database unreachable'));
    await spend(b, c.id, 'u2');
    a.clock.advance(refresh_ms);
    let text = await metricsText(a);
    assert.equal(gaugeIn(text, budgetSeries(c.id, 'spent')), 1000, 'the last figures');
    assert.equal(gaugeIn(text, failures), 1);
    assert.equal(gaugeIn(text, refreshed), refreshed_s);
    await metricsText(a);
    assert.equal(watch.reads, 2, 'a failed read is not retried before the interval is up');

    // A store that does not answer: the scrape waits at most limits.metrics_budget_wait_ms_max.
    let answer: () => void = () => undefined;
    watch.before = () => new Promise<void>((resolve) => (answer = resolve));
    a.clock.advance(refresh_ms);
    text = await metricsText(a);
    assert.equal(gaugeIn(text, budgetSeries(c.id, 'spent')), 1000);
    assert.equal(watch.reads, 3);
    // Once the store answers, the read goes on; the next scrape (within the interval) shows it, without another read.
    watch.before = null;
    answer();
    text = await metricsText(a);
    assert.equal(gaugeIn(text, budgetSeries(c.id, 'spent')), 2000);
    assert.equal(gaugeIn(text, failures), 1);
    assert.equal(watch.reads, 3);
  });
});

describe('budget gauges on /metrics, PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const database: TestDatabase = db;
  const opened: Array<{ h: HttpHarness; store: Store }> = [];
  after(async () => {
    for (const { h, store } of opened) {
      await h.app.close();
      await h.engine.close();
      await store.close();
    }
  });
  /** A node whose connections carry `application_name`, so that a test can cut exactly those. */
  const node = async (name: string): Promise<HttpHarness> => {
    const url = new URL(database.url);
    url.searchParams.set('application_name', name);
    const store = new PostgresStore({ url: url.toString() });
    const h = await httpHarness({}, {}, store);
    opened.push({ h, store });
    return h;
  };

  acrossNodes('postgres', async () => [await node('vs_node_a1'), await node('vs_node_b1')]);

  test('postgres: while node A cannot reach the database, its /metrics answers 200 with the last figures', async () => {
    const a = await node('vs_node_a2');
    const b = await node('vs_node_b2');
    const c = await activeCampaign(b, { budget_minor: 100_000 });
    await spend(b, c.id, 'u1');
    assert.equal(await budgetGauge(a, c.id, 'spent'), 1000);
    const refreshed_s = a.clock.now() / 1000;

    await cutOff(database, 'vs_node_a2', true);
    try {
      a.clock.advance(refresh_ms);
      const text = await metricsText(a);
      assert.equal(gaugeIn(text, budgetSeries(c.id, 'spent')), 1000, 'the last figures');
      assert.equal(gaugeIn(text, failures), 1);
      assert.equal(gaugeIn(text, refreshed), refreshed_s);
    } finally {
      await cutOff(database, 'vs_node_a2', false);
    }
    await spend(b, c.id, 'u2');
    a.clock.advance(refresh_ms);
    const text = await metricsText(a);
    assert.equal(gaugeIn(text, budgetSeries(c.id, 'spent')), 2000, 'caught up once the database is back');
    assert.equal(gaugeIn(text, failures), 1);
    assert.equal(gaugeIn(text, refreshed), a.clock.now() / 1000);
  });
});

/**
 * An outage as one node sees it: the database refuses new connections and the node's open ones
 * are ended (other nodes keep theirs). `false` lets connections in again.
 */
async function cutOff(database: TestDatabase, application_name: string, cut: boolean): Promise<void> {
  const name = new URL(database.url).pathname.slice(1);
  const client = new pg.Client({ connectionString: pg_base_url });
  await client.connect();
  try {
    await client.query(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS ${cut ? 'false' : 'true'}`);
    if (cut) {
      const sql = 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2';
      await client.query(sql, [name, application_name]);
    }
  } finally {
    await client.end();
  }
}
