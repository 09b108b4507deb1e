import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  client,
  launch,
  type NodeProcess,
  runCli,
  serverKey,
  startNode,
  wireCampaign,
} from '../support/node-process.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';

const db = await createTestDatabase();
after(() => db?.drop());
const admin_key = 'vs_test_admin_key_for_cluster_tests_01';

/** Answers by outcome (201, or the error code), so a failure shows every code that came back. */
function tally(answers: Array<{ status: number; body: { error?: { code: string } } }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const k = a.status === 201 ? '201' : (a.body.error?.code ?? String(a.status));
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

describe('three API processes on one PostgreSQL', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vs-cluster-'));
  const env = { DATABASE_URL: db.url, VOUCHSAFE_ADMIN_KEY: admin_key, VOUCHSAFE_DATA_DIR: dir };
  const nodes: NodeProcess[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('budget, max_redemptions, single use and idempotency keys hold across nodes', async () => {
    // Start one first so that exactly one bootstrap key is made, then the others.
    nodes.push(await startNode(env));
    nodes.push(...(await Promise.all([startNode(env), startNode(env)])));
    const admins = nodes.map((n) => client(n.url, admin_key));
    const [a0, a1] = admins as [ReturnType<typeof client>, ReturnType<typeof client>];
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(nodes[1]?.url ?? '', await serverKey(env, 'ap', ['approver']));
    const co = String((await a1('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key);
    const checkouts = nodes.map((n) => client(n.url, co, { retry_unavailable: true }));
    const on = (i: number) => checkouts[i % checkouts.length] as ReturnType<typeof client>;
    const orderOf = (i: number) => ({
      id: `o${i}`,
      merchant_id: `m${i % 7}`,
      amount_minor: 5000,
      currency: 'CNY',
      product_kind: 'merchandise',
    });

    // Budget for exactly 150 redemptions of 100, 600 tries through three nodes.
    const budget = await launch(a0, approver, wireCampaign({ code: 'CLUSTERB', budget_minor: 15_000 }));
    const tries = await Promise.all(
      Array.from({ length: 600 }, (_, i) =>
        on(i)('POST', '/v1/redemptions', { user_id: `u${i}`, code: 'CLUSTERB', confirm: true, order: orderOf(i) }),
      ),
    );
    assert.deepEqual(tally(tries), { '201': 150, budget_exhausted: 450 });
    const b = await a1('GET', `/v1/campaigns/${String(budget.id)}`);
    assert.deepEqual(b.body.budget, {
      total_minor: 15_000,
      reserved_minor: 0,
      spent_minor: 15_000,
      available_minor: 0,
    });

    // max_redemptions exact.
    const capped = await launch(a0, approver, wireCampaign({ code: 'CLUSTERM', max_redemptions: 77 }));
    const capTries = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        on(i)('POST', '/v1/redemptions', { user_id: `u${i}`, code: 'CLUSTERM', order: orderOf(i) }),
      ),
    );
    assert.deepEqual(tally(capTries), { '201': 77, usage_limit_reached: 223 });
    assert.equal(
      ((await a0('GET', `/v1/campaigns/${String(capped.id)}`)).body.counts as { claimed: number }).claimed,
      0,
    );

    // A single-use claimed coupon, 90 tries through three nodes: exactly one.
    const single = await launch(a0, approver, wireCampaign({ code_mode: 'claim', code: undefined, per_user_limit: 1 }));
    const coupon = await on(0)('POST', '/v1/claims', { campaign_id: single.id, user_id: 'solo' });
    assert.equal(coupon.status, 201);
    const singleTries = await Promise.all(
      Array.from({ length: 90 }, (_, i) =>
        on(i)('POST', '/v1/redemptions', { user_id: 'solo', code: coupon.body.code, order: orderOf(i) }),
      ),
    );
    assert.equal(singleTries.filter((r) => r.status === 201).length, 1);

    // One Idempotency-Key sent to all three nodes at once: one effect, the same answer everywhere.
    const idem = await launch(a0, approver, wireCampaign({ code: 'CLUSTERI' }));
    const body = { user_id: 'idem-user', code: 'CLUSTERI', confirm: true, order: orderOf(1) };
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        on(i)('POST', '/v1/redemptions', body, { 'idempotency-key': 'cluster-key-1' }),
      ),
    );
    assert.ok(replies.every((r) => r.status === 201));
    assert.equal(new Set(replies.map((r) => r.body.id)).size, 1);
    const idemAfter = await a0('GET', `/v1/campaigns/${String(idem.id)}`);
    assert.equal((idemAfter.body.budget as { spent_minor: number }).spent_minor, 100);

    const verify = await runCli(['verify', '--database-url', db.url], {});
    assert.equal(verify.code, 0, verify.out);
  });
});
