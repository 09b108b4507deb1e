import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { assertInvariants } from '../http/harness.ts';
import { activeCampaign, spec } from '../support/fixtures.ts';
import { slowStore } from './slow-store.ts';

const clients = 40;
const attempts_max = 30;

type Reply = { status: number; body: Record<string, unknown> } | null;

/** POST with a deadline: null when the client gave up first (the server may still be working on it). */
async function post(
  url: string,
  key: string,
  path: string,
  body: unknown,
  idem: string,
  timeout_ms: number,
): Promise<Reply> {
  try {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': idem },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeout_ms),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  } catch {
    return null;
  }
}

/** Gives up early, then retries with the same key until an answer that is not 503 comes back. */
async function untilAnswered(
  send: (timeout_ms: number) => Promise<Reply>,
  i: number,
): Promise<{ status: number; body: Record<string, unknown>; tries: number }> {
  for (let tries = 1; tries <= attempts_max; tries++) {
    const timeout_ms = tries === attempts_max ? 30_000 : 30 + ((i * 37 + tries * 53) % 250);
    const r = await send(timeout_ms);
    if (r && r.status !== 503) return { ...r, tries };
  }
  throw new Error('no answer');
}

test('clients that time out and retry with the same Idempotency-Key get exactly-once effects', async () => {
  const slowness = { batch_ms: 200, read_ms: 5 };
  const store = slowStore(new SqliteStore({ path: ':memory:' }), slowness);
  const clock = new ManualClock(Date.parse('2026-01-01T00:01:00Z'));
  const engine = await Engine.open(store, { clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
  const shared = await activeCampaign(
    { store, engine, clock },
    spec({ code_mode: 'shared_code', code: 'RETRY', per_user_limit: null, max_redemptions: null }),
  );
  const claims = await activeCampaign({ store, engine, clock }, spec({ per_user_limit: 1 }));
  const { secret } = await createApiKey(store, engine.ids, clock.now(), {
    name: 'co',
    scopes: ['checkout'],
    actor: null,
  });
  const server = await startServer({ engine, port: 0, host: '127.0.0.1', handle_signals: false });
  try {
    const redeemed = await Promise.all(
      Array.from({ length: clients }, (_, i) => {
        const body = {
          user_id: `u${i}`,
          code: 'RETRY',
          confirm: true,
          order: { id: `o${i}`, merchant_id: 'm1', amount_minor: 10_000, currency: 'CNY', product_kind: 'merchandise' },
        };
        return untilAnswered((t) => post(server.url, secret, '/v1/redemptions', body, `redeem-${i}`, t), i);
      }),
    );
    const claimed = await Promise.all(
      Array.from({ length: clients }, (_, i) =>
        untilAnswered(
          (t) => post(server.url, secret, '/v1/claims', { campaign_id: claims.id, user_id: `c${i}` }, `claim-${i}`, t),
          i,
        ),
      ),
    );
    const retried = [...redeemed, ...claimed].filter((r) => r.tries > 1).length;
    process.stdout.write(`# idempotent retries: ${retried} of ${2 * clients} requests needed more than one try\n`);
    assert.ok(retried > 0, 'some clients gave up and retried');
    for (const r of [...redeemed, ...claimed]) assert.equal(r.status, 201, JSON.stringify(r.body));

    // One more retry of each now answers the same thing at once.
    slowness.batch_ms = 0;
    for (const [i, first] of redeemed.entries()) {
      const body = {
        user_id: `u${i}`,
        code: 'RETRY',
        confirm: true,
        order: { id: `o${i}`, merchant_id: 'm1', amount_minor: 10_000, currency: 'CNY', product_kind: 'merchandise' },
      };
      const again = await post(server.url, secret, '/v1/redemptions', body, `redeem-${i}`, 10_000);
      assert.deepEqual(again?.body, first.body);
    }

    // Exactly once: one redemption per order, one coupon per user, the money counted once.
    const page = await store.listRedemptions({ limit: 100, campaign_id: shared.id });
    assert.equal(page.data.length, clients);
    assert.equal(new Set(page.data.map((r) => r.order_id)).size, clients);
    assert.equal(new Set(redeemed.map((r) => r.body.id)).size, clients);
    const after = await engine.getCampaign(shared.id);
    assert.equal(after.spent_minor, clients * 1000);
    assert.equal((await engine.getCampaign(claims.id)).claimed_count, clients);
    assert.equal(new Set(claimed.map((r) => r.body.id)).size, clients);
    await assertInvariants(store);
  } finally {
    slowness.batch_ms = 0;
    await server.close();
  }
});
