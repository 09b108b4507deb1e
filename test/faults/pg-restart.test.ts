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
import { mustRun, type PrivatePostgres, startPrivatePostgres } from '../support/private-services.ts';
import { startLoad, summary, waitFor } from './load.ts';

const admin_key = 'vs_test_admin_key_for_pg_restart_0001';
const pgServer = await startPrivatePostgres();
after(() => pgServer?.destroy());

/** Restarts the private server while two nodes take load; nothing acknowledged may be lost. */
describe('PostgreSQL restarts under load', () => {
  if (!pgServer) {
    if (mustRun()) throw new Error('initdb/pg_ctl not found or not root: the PostgreSQL restart test cannot run');
    test.skip('no PostgreSQL binaries to start a private server');
    return;
  }
  const server: PrivatePostgres = pgServer;
  const dir = mkdtempSync(join(tmpdir(), 'vs-pgrestart-'));
  const nodes: NodeProcess[] = [];
  after(async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('in-flight requests get 503 store_unavailable with Retry-After or succeed; nodes reconnect; invariants hold', async () => {
    const env = { DATABASE_URL: server.url, VOUCHSAFE_ADMIN_KEY: admin_key, VOUCHSAFE_DATA_DIR: dir };
    nodes.push(await startNode(env));
    nodes.push(await startNode(env));
    const admin = client(nodes[0]?.url ?? '', admin_key);
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(nodes[1]?.url ?? '', await serverKey(env, 'ap', ['approver']));
    const checkout = String((await admin('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key);
    const campaign = await launch(admin, approver, wireCampaign({ code: 'RESTART', budget_minor: 100_000_000 }));

    const load = startLoad({
      urls: () => nodes.map((n) => n.url),
      key: checkout,
      code: 'RESTART',
      workers: 12,
      timeout_ms: 20_000,
      tag: 'r',
    });
    try {
      await waitFor(() => load.report.acknowledged.size >= 100, 60_000, '100 redemptions before the first restart');
      for (const mode of ['fast', 'immediate'] as const) {
        await server.stop(mode);
        // While it is down, requests must be refused quickly, not hang.
        const down_from = load.report.by_answer.get('503 store_unavailable') ?? 0;
        await waitFor(
          () => (load.report.by_answer.get('503 store_unavailable') ?? 0) > down_from,
          20_000,
          '503 while down',
        );
        await server.start();
        const back_ms = Date.now();
        await waitFor(() => load.report.last_ok_ms > back_ms, 30_000, `a 201 after the ${mode} restart`);
      }
    } finally {
      await load.stop();
    }
    const report = load.report;
    const text = summary(report);
    for (const label of report.by_answer.keys()) {
      assert.ok(
        ['201', '503 store_unavailable', '503 overloaded'].includes(label),
        `unexpected answer ${label}: ${text}`,
      );
    }
    assert.equal(report.timeouts, 0, `no request may hang: ${text}`);
    assert.equal(report.missing_retry_after, 0, `every 503 has Retry-After: ${text}`);
    assert.equal(report.connection_errors, 0, `the nodes stay up: ${text}`);
    for (const n of nodes) assert.equal(n.child.exitCode, null, `node died:\n${n.output()}`);
    process.stdout.write(`# pg restart: ${text}\n`);

    // Every acknowledged redemption is stored, as it was answered.
    for (const [id, status] of report.acknowledged) {
      const r = await admin('GET', `/v1/redemptions/${id}`);
      assert.equal(r.status, 200, `acknowledged redemption ${id} was lost`);
      assert.equal(r.body.status, status);
    }
    const c = await admin('GET', `/v1/campaigns/${String(campaign.id)}`);
    const budget = c.body.budget as { reserved_minor: number; spent_minor: number };
    assert.ok(budget.reserved_minor + budget.spent_minor >= report.acknowledged.size * 100);
    const verify = await runCli(['verify', '--database-url', server.url], {});
    assert.equal(verify.code, 0, verify.out);
  });
});
