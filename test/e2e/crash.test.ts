import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readDigest } from '../../src/cli/audit.ts';
import { client, launch, runCli, serverKey, startNode, wireCampaign } from '../support/node-process.ts';

const admin_key = 'vs_test_admin_key_for_crash_safety_0001';

test('SIGKILL during concurrent redemptions loses no acknowledged redemption (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-crash-'));
  const env = { VOUCHSAFE_DATA_DIR: dir, VOUCHSAFE_ADMIN_KEY: admin_key };
  try {
    let node = await startNode(env);
    let admin = client(node.url, admin_key);
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(node.url, await serverKey(env, 'approver', ['approver']));
    const checkout = client(
      node.url,
      String((await admin('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key),
    );
    const campaign = await launch(admin, approver, wireCampaign({ code: 'CRASH', budget_minor: 10_000_000 }));

    const acknowledged: string[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop && i < 10_000; i++) {
        try {
          const res = await checkout('POST', '/v1/redemptions', {
            user_id: `u${w}_${i}`,
            code: 'CRASH',
            confirm: i % 2 === 0,
            order: {
              id: `o${w}_${i}`,
              merchant_id: `m${w}`,
              amount_minor: 5000,
              currency: 'CNY',
              product_kind: 'merchandise',
            },
          });
          if (res.status === 201) acknowledged.push(String(res.body.id));
        } catch {
          return; // the connection died with the node
        }
      }
    };
    const workers = Array.from({ length: 32 }, (_, w) => worker(w));
    while (acknowledged.length < 300) await new Promise((r) => setTimeout(r, 20));
    await node.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    assert.ok(acknowledged.length >= 300);

    const verify = await runCli(['verify', '--data-dir', dir], {});
    assert.equal(verify.code, 0, verify.out);

    node = await startNode(env);
    admin = client(node.url, admin_key);
    for (const id of acknowledged) {
      const r = await admin('GET', `/v1/redemptions/${id}`);
      assert.equal(r.status, 200, `acknowledged redemption ${id} was lost`);
    }
    const after = await admin('GET', `/v1/campaigns/${String(campaign.id)}`);
    const budget = after.body.budget as { reserved_minor: number; spent_minor: number };
    assert.ok(budget.reserved_minor + budget.spent_minor >= acknowledged.length * 100);
    await node.kill('SIGTERM');
    // serve took an audit digest at each start; the store still holds the first one's every link.
    const digests = readdirSync(join(dir, 'audit-digests'))
      .filter((f) => f.endsWith('.json'))
      .sort();
    assert.equal(digests.length, 2, `one digest per start: ${digests.join(', ')}`);
    const first = join(dir, 'audit-digests', digests[0] ?? '');
    const again = await runCli(
      ['verify', '--data-dir', dir, '--digest', first, '--expect', readDigest(first).digest],
      {},
    );
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /, as expected \(\d+ chains?\): every chain holds its link/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
