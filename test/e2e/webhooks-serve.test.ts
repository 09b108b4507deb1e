import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { verifySignature } from '../../src/events/signature.ts';
import { receiver } from '../events/support.ts';
import { client, launch, serverKey, startNode, wireCampaign } from '../support/node-process.ts';

const admin_key = 'vs_test_admin_key_for_webhooks_e2e_0001';

test('vouchsafe serve dispatches signed webhooks and stops its dispatcher on SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-hooks-'));
  const r = await receiver();
  const env = {
    VOUCHSAFE_DATA_DIR: dir,
    VOUCHSAFE_ADMIN_KEY: admin_key,
    VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: '1',
    DATABASE_URL: '',
    NATS_URL: '',
  };
  const node = await startNode(env);
  try {
    const admin = client(node.url, admin_key);
    const created = await admin('POST', '/v1/webhooks', { url: r.url, events: ['campaign.activated'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const secret = String(created.body.secret);
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(node.url, await serverKey(env, 'a', ['approver']));
    const campaign = await launch(admin, approver, wireCampaign({ code: 'HOOKS' }));
    for (let i = 0; i < 300 && r.received.length === 0; i++) await sleep(50);
    const [got] = r.received;
    assert.ok(got, `no delivery:\n${node.output()}`);
    assert.equal(got.body.type, 'campaign.activated');
    assert.equal(got.body.data.campaign_id, campaign.id);
    const header = String(got.headers['vouchsafe-signature']);
    assert.equal(verifySignature(header, secret, got.raw, Math.floor(Date.now() / 1000)), true);
    const log = await admin('GET', `/v1/webhooks/${String(created.body.id)}/deliveries`);
    const data = log.body.data as Array<{ status: string }>;
    for (let i = 0; i < 100 && data[0]?.status !== 'delivered'; i++) {
      await sleep(50);
      data.splice(
        0,
        data.length,
        ...((await admin('GET', `/v1/webhooks/${String(created.body.id)}/deliveries`)).body.data as Array<{
          status: string;
        }>),
      );
    }
    assert.equal(data[0]?.status, 'delivered');
    await node.kill('SIGTERM');
    assert.equal(node.child.exitCode, 0, node.output());
  } finally {
    await node.kill('SIGKILL');
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
