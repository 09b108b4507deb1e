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
import { createTestDatabase } from '../support/pg.ts';
import { startLoad, summary, waitFor } from './load.ts';

const admin_key = 'vs_test_admin_key_for_live_verify_001';
const verify_runs = 4;

/**
 * `vouchsafe verify` against a store a server is writing to: it must see one snapshot.
 * Before readSnapshot it read a campaign row and its redemptions or audit chain at different
 * moments and reported the batches that committed in between as violations.
 */
async function verifyWhileLoaded(env: Record<string, string>, target: string[]): Promise<void> {
  const node: NodeProcess = await startNode(env);
  try {
    const admin = client(node.url, admin_key);
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(node.url, await serverKey(env, 'ap', ['approver']));
    const checkout = String((await admin('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key);
    await launch(admin, approver, wireCampaign({ code: 'LIVE', budget_minor: 100_000_000, per_user_limit: 5 }));
    const load = startLoad({
      urls: () => [node.url],
      key: checkout,
      code: 'LIVE',
      workers: 8,
      timeout_ms: 20_000,
      tag: 'l',
    });
    const outs: string[] = [];
    try {
      await waitFor(() => load.report.acknowledged.size >= 50, 60_000, 'load');
      for (let i = 0; i < verify_runs; i++) {
        const before = load.report.acknowledged.size;
        const v = await runCli(['verify', ...target], {});
        assert.ok(load.report.acknowledged.size > before, 'redemptions committed while verify ran');
        outs.push(v.out.trim());
        assert.equal(v.code, 0, `verify under load reported: ${v.out}`);
      }
    } finally {
      await load.stop();
    }
    process.stdout.write(`# live verify: ${summary(load.report)}; ${outs.at(-1)}\n`);
  } finally {
    await node.kill('SIGTERM');
  }
}

describe('verify against a live store', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-live-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('SQLite: verify is clean while a server commits batches', async () => {
    await verifyWhileLoaded({ VOUCHSAFE_DATA_DIR: dir, VOUCHSAFE_ADMIN_KEY: admin_key }, ['--data-dir', dir]);
  });

  test('PostgreSQL: verify is clean while a server commits batches', async (t) => {
    const db = await createTestDatabase();
    if (!db) {
      t.skip('PostgreSQL not reachable');
      return;
    }
    try {
      const pgDir = mkdtempSync(join(tmpdir(), 'vs-live-pg-'));
      await verifyWhileLoaded({ DATABASE_URL: db.url, VOUCHSAFE_DATA_DIR: pgDir, VOUCHSAFE_ADMIN_KEY: admin_key }, [
        '--database-url',
        db.url,
      ]);
      rmSync(pgDir, { recursive: true, force: true });
    } finally {
      await db.drop();
    }
  });
});
