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
import { mustRun, startPrivateRedis } from '../support/private-services.ts';
import { waitFor } from './load.ts';

const admin_key = 'vs_test_admin_key_for_redis_outage_01';
const redis = await startPrivateRedis();
after(() => redis?.kill());

function order(i: number) {
  return { id: `o${i}`, merchant_id: 'm1', amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' };
}

describe('Redis goes away and comes back', () => {
  if (!redis) {
    if (mustRun()) throw new Error('redis-server not found: the Redis outage test cannot run');
    test.skip('no redis-server to start a private one');
    return;
  }
  const server = redis;
  const dir = mkdtempSync(join(tmpdir(), 'vs-redis-'));
  let node: NodeProcess | null = null;
  after(async () => {
    await node?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  test('velocity-limited redemptions fail closed with 503 and Retry-After; everything else keeps working; it recovers', async () => {
    const env = { VOUCHSAFE_DATA_DIR: dir, VOUCHSAFE_ADMIN_KEY: admin_key, REDIS_URL: server.url };
    node = await startNode(env);
    const admin = client(node.url, admin_key);
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver = client(node.url, await serverKey(env, 'ap', ['approver']));
    const checkout_key = String((await admin('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key);
    const checkout = client(node.url, checkout_key);
    const velocity = { per_user_per_minute: 1000, per_ip_per_minute: 100_000 };
    await launch(admin, approver, wireCampaign({ code: 'RISKY', velocity }));
    await launch(admin, approver, wireCampaign({ code: 'PLAIN' }));
    let i = 0;
    const redeem = (code: string) =>
      checkout('POST', '/v1/redemptions', { user_id: `u${i}`, code, confirm: true, order: order(i++) });

    assert.equal((await redeem('RISKY')).status, 201, 'with Redis up the risky campaign redeems');
    await server.kill();

    // Fail closed: the risky campaign refuses with a clear 503; the plain one is untouched.
    await waitFor(async () => (await redeem('RISKY')).status === 503, 10_000, 'a 503 from the risky campaign');
    const refused = await fetch(`${node.url}/v1/redemptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${checkout_key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'down', code: 'RISKY', order: order(10_000) }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(refused.status, 503);
    assert.equal(body.error.code, 'store_unavailable');
    assert.match(body.error.message, /velocity|Redis/i);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'Retry-After on the refusal');
    for (let k = 0; k < 5; k++)
      assert.equal((await redeem('PLAIN')).status, 201, 'a campaign without velocity keeps working');
    const validation = await checkout('POST', '/v1/validations', { user_id: 'v', code: 'PLAIN', order: order(20_000) });
    assert.equal(validation.status, 200);
    assert.equal(
      (await checkout('POST', '/v1/validations', { user_id: 'v', code: 'NOPE', order: order(20_001) })).status,
      200,
    );
    assert.equal((await admin('GET', '/healthz')).status, 200);

    // Redis returns on the same port: the risky campaign recovers by itself within seconds.
    await server.start();
    await waitFor(async () => (await redeem('RISKY')).status === 201, 20_000, 'the risky campaign to recover');
    assert.equal(node.child.exitCode, null, `node died:\n${node.output()}`);
    await node.kill('SIGTERM');
    const verify = await runCli(['verify', '--data-dir', dir], {});
    assert.equal(verify.code, 0, verify.out);
  });
});
