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
import { startLoad, summary, waitFor } from './load.ts';

const db = await createTestDatabase();
after(() => db?.drop());
const admin_key = 'vs_test_admin_key_for_pg_crash_000001';

describe('SIGKILL of API nodes on a three-node PostgreSQL cluster', () => {
  if (!db) {
    test.skip(pg_unavailable_message);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'vs-pgcrash-'));
  const env = { DATABASE_URL: db.url, VOUCHSAFE_ADMIN_KEY: admin_key, VOUCHSAFE_DATA_DIR: dir };
  const nodes: Array<NodeProcess | null> = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n?.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('every 201 is stored as answered, nothing is half-applied, verify is clean after restart', async () => {
    nodes.push(await startNode(env));
    nodes.push(...(await Promise.all([startNode(env), startNode(env)])));
    const live = () => nodes.filter((n): n is NodeProcess => n !== null).map((n) => n.url);
    const admin = client(live()[0] ?? '', admin_key);
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(live()[1] ?? '', await serverKey(env, 'ap', ['approver']));
    const checkout = String((await admin('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key);
    const campaign = await launch(admin, approver, wireCampaign({ code: 'PGCRASH', budget_minor: 100_000_000 }));

    const load = startLoad({ urls: live, key: checkout, code: 'PGCRASH', workers: 24, timeout_ms: 30_000, tag: 'k' });
    try {
      // Kill one node in the middle of its group-committed batches, then another, while load goes on.
      for (const victim of [0, 1]) {
        const before = load.report.acknowledged.size;
        await waitFor(() => load.report.acknowledged.size >= before + 150, 60_000, 'acknowledged redemptions');
        await nodes[victim]?.kill('SIGKILL');
        nodes[victim] = null;
      }
      const before = load.report.acknowledged.size;
      await waitFor(() => load.report.acknowledged.size >= before + 50, 60_000, 'the survivor keeps serving');
    } finally {
      await load.stop();
    }
    const report = load.report;
    process.stdout.write(`# pg crash: ${summary(report)}\n`);
    for (const label of report.by_answer.keys())
      assert.ok(['201', '503 overloaded'].includes(label), `${label}: ${summary(report)}`);

    // Restart the killed nodes: they come up on the same database and serve.
    nodes[0] = await startNode(env);
    nodes[1] = await startNode(env);
    const check = client(nodes[0].url, admin_key);
    for (const [id, status] of report.acknowledged) {
      const r = await check('GET', `/v1/redemptions/${id}`);
      assert.equal(r.status, 200, `acknowledged redemption ${id} was lost`);
      assert.equal(r.body.status, status, `redemption ${id} was answered ${status}`);
    }
    const c = await check('GET', `/v1/campaigns/${String(campaign.id)}`);
    const budget = c.body.budget as { reserved_minor: number; spent_minor: number };
    assert.ok(budget.reserved_minor + budget.spent_minor >= report.acknowledged.size * 100);
    const more = await client(nodes[1].url, checkout)('POST', '/v1/redemptions', {
      user_id: 'after-restart',
      code: 'PGCRASH',
      order: { id: 'after', merchant_id: 'm1', amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' },
    });
    assert.equal(more.status, 201, 'no lock outlived the killed nodes');
    const verify = await runCli(['verify', '--database-url', db.url], {});
    assert.equal(verify.code, 0, verify.out);
  });
});
