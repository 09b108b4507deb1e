import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { type RunningServer, startServer } from '../../src/http/server.ts';
import type { CampaignWire, CouponWire, RedemptionWire } from '../../src/http/views.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { assertInvariants, campaignBody, orderBody, t0 } from './harness.ts';

interface Live {
  server: RunningServer;
  engine: Engine;
  store: Store;
  admin: string;
  approver: string;
  checkout: string;
}

async function live(store: Store = new SqliteStore({ path: ':memory:' })): Promise<Live> {
  const engine = await Engine.open(store, { clock: new ManualClock(t0 + 60_000) });
  const data_dir = mkdtempSync(join(tmpdir(), 'vouchsafe-e2e-'));
  let admin = '';
  const server = await startServer({
    engine,
    port: 0,
    host: '127.0.0.1',
    handle_signals: false,
    bootstrap: { data_dir, print: (line) => (admin = line.split(' ').pop() ?? '') },
  });
  const make = async (scope: 'approver' | 'checkout') =>
    (await createApiKey(store, engine.ids, engine.now(), { name: scope, scopes: [scope], actor: null })).secret;
  return { server, engine, store, admin, approver: await make('approver'), checkout: await make('checkout') };
}

async function send<T>(
  l: Live,
  key: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${l.server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function campaign(l: Live, over: Record<string, unknown>): Promise<CampaignWire> {
  const created = await send<CampaignWire>(l, l.admin, 'POST', '/v1/campaigns', campaignBody(over));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const submitted = await send<CampaignWire>(l, l.admin, 'POST', `/v1/campaigns/${created.body.id}/submit`);
  if (submitted.body.status === 'active') return submitted.body;
  const approved = await send<CampaignWire>(l, l.approver, 'POST', `/v1/campaigns/${created.body.id}/approve`);
  assert.equal(approved.body.status, 'active', JSON.stringify(approved.body));
  return approved.body;
}

function tally(answers: Array<{ status: number; body: unknown }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const code = (a.body as { error?: { code: string } }).error?.code;
    const label = code ? `${a.status} ${code}` : String(a.status);
    out[label] = (out[label] ?? 0) + 1;
  }
  return out;
}

describe('end to end over a socket', () => {
  test('200 concurrent redemptions against a budget for 50: exactly 50 x 201 and 150 x 422 budget_exhausted', async () => {
    const l = await live();
    try {
      assert.match(l.admin, /^vs_/, 'the bootstrap admin key was printed');
      const c = await campaign(l, {
        code_mode: 'shared_code',
        code: 'FIFTY',
        budget_minor: 50_000,
        max_redemptions: 1000,
        per_user_limit: 1,
      });
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          send(l, l.checkout, 'POST', '/v1/redemptions', {
            user_id: `u${i}`,
            code: 'FIFTY',
            order: orderBody({ id: `o${i}` }),
            confirm: i % 2 === 0,
          }),
        ),
      );
      assert.deepEqual(tally(answers), { '201': 50, '422 budget_exhausted': 150 });
      const after = await send<CampaignWire>(l, l.admin, 'GET', `/v1/campaigns/${c.id}`);
      assert.equal(after.body.budget.available_minor, 0);
      assert.equal(after.body.budget.reserved_minor + after.body.budget.spent_minor, 50_000);
      await assertInvariants(l.store);
    } finally {
      await l.server.close();
    }
  });

  test('100 concurrent redemptions of one single-use coupon: one 201, 99 x 409; 50 concurrent confirms: one 200', async () => {
    const l = await live();
    try {
      const c = await campaign(l, {});
      const coupon = await send<CouponWire>(l, l.checkout, 'POST', '/v1/claims', { campaign_id: c.id, user_id: 'u1' });
      assert.equal(coupon.status, 201);
      const answers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          send<RedemptionWire>(l, l.checkout, 'POST', '/v1/redemptions', {
            user_id: 'u1',
            code: coupon.body.code,
            order: orderBody({ id: `o${i}` }),
          }),
        ),
      );
      assert.deepEqual(tally(answers), { '201': 1, '409 coupon_already_redeemed': 99 });
      const won = answers.find((a) => a.status === 201);
      assert.ok(won);
      const confirms = await Promise.all(
        Array.from({ length: 50 }, () => send(l, l.checkout, 'POST', `/v1/redemptions/${won.body.id}/confirm`)),
      );
      assert.deepEqual(tally(confirms), { '200': 1, '409 invalid_state': 49 });
      const after = await send<CampaignWire>(l, l.admin, 'GET', `/v1/campaigns/${c.id}`);
      assert.deepEqual(after.body.budget, {
        total_minor: 100_000,
        reserved_minor: 0,
        spent_minor: 1000,
        available_minor: 99_000,
      });
      await assertInvariants(l.store);
    } finally {
      await l.server.close();
    }
  });

  test('graceful shutdown: in-flight requests finish, the engine drains, the store closes; the data survives', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vouchsafe-e2e-')), 'vouchsafe.db');
    const store = new SqliteStore({ path });
    const l = await live(store);
    const c = await campaign(l, { code_mode: 'shared_code', code: 'BYE', per_user_limit: 1 });
    // Hold every batch at the store until shutdown has begun, so the requests are truly in flight.
    let openGate = () => {};
    const gate = new Promise<void>((resolve) => {
      openGate = resolve;
    });
    const runBatch = store.runBatch.bind(store) as Store['runBatch'];
    store.runBatch = (async (campaign_id, load, decide) => {
      await gate;
      return runBatch(campaign_id, load, decide);
    }) as Store['runBatch'];
    // The engine hands ready batches of several campaigns to runBatches when the store has it.
    const runBatches = store.runBatches.bind(store) as NonNullable<Store['runBatches']>;
    store.runBatches = (async (items) => {
      await gate;
      return runBatches(items);
    }) as NonNullable<Store['runBatches']>;
    const inflight = Array.from({ length: 30 }, (_, i) =>
      send(l, l.checkout, 'POST', '/v1/redemptions', {
        user_id: `u${i}`,
        code: 'BYE',
        order: orderBody({ id: `o${i}` }),
        confirm: true,
      }),
    );
    for (let waited_ms = 0; l.engine.pending < 30 && waited_ms < 5000; waited_ms += 5)
      await new Promise((r) => setTimeout(r, 5));
    assert.equal(l.engine.pending, 30, 'all 30 requests reached the engine');
    const closing = l.server.close();
    await new Promise((r) => setTimeout(r, 20));
    await assert.rejects(fetch(`${l.server.url}/healthz`), 'no new connections once closing');
    openGate();
    const answers = await Promise.all(inflight);
    await closing;
    assert.deepEqual(tally(answers), { '201': 30 }, 'every in-flight request was answered');
    const reopened = new SqliteStore({ path });
    try {
      assert.equal((await reopened.getCampaign(c.id))?.spent_minor, 30_000);
      await assertInvariants(reopened);
    } finally {
      await reopened.close();
    }
  });
});
