import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { client, launch, type NodeProcess, serverKey, startNode, wireCampaign } from '../support/node-process.ts';
import { createTestDatabase, pg_unavailable_message } from '../support/pg.ts';
import { dead_redis_url, redis_test_url, redis_unavailable_message, redisAvailable } from '../support/redis.ts';

const admin_key = 'vs_test_admin_key_for_redis_velocity_1';
const day_ms = 86_400_000;
const nodes: NodeProcess[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.kill()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vs-redis-'));
  dirs.push(d);
  return d;
}

function orderOf(i: number) {
  return { id: `o${i}`, merchant_id: 'm1', amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' };
}

/**
 * Keys a client needs: approver (a second key, made on the server: one the admin key minted could
 * not approve what the admin key makes) and checkout.
 */
async function keys(admin: ReturnType<typeof client>, env: Record<string, string>) {
  const approver = await serverKey(env, 'ap', ['approver']);
  const checkout = String((await admin('POST', '/v1/api-keys', { name: 'co', scopes: ['checkout'] })).body.key);
  return { approver, checkout };
}

describe('velocity limits with REDIS_URL on real processes', async () => {
  const redis = await redisAvailable();
  const db = redis ? await createTestDatabase() : null;
  after(() => db?.drop());

  test('two nodes sharing PostgreSQL and Redis admit exactly the per-IP limit between them', async (t) => {
    if (!redis) return t.skip(redis_unavailable_message);
    if (!db) return t.skip(pg_unavailable_message);
    // A day window: wait out the last seconds of a UTC day rather than straddle two windows.
    const to_midnight_ms = day_ms - (Date.now() % day_ms);
    if (to_midnight_ms < 15_000) await new Promise((r) => setTimeout(r, to_midnight_ms + 100));
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis_test_url,
      VOUCHSAFE_ADMIN_KEY: admin_key,
      VOUCHSAFE_DATA_DIR: tempDir(),
    };
    nodes.push(await startNode(env));
    nodes.push(await startNode(env));
    const [n0, n1] = nodes.slice(-2) as [NodeProcess, NodeProcess];
    const admin = client(n0.url, admin_key);
    const k = await keys(admin, env);
    const ip = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
    const code = `REDISV${Date.now() % 100_000}`;
    await launch(admin, client(n1.url, k.approver), wireCampaign({ code, velocity: { per_ip_per_day: 12 } }));
    const tills = [client(n0.url, k.checkout), client(n1.url, k.checkout)];
    const tries = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        (tills[i % 2] as ReturnType<typeof client>)('POST', '/v1/redemptions', {
          user_id: `u${i}`,
          code,
          ip,
          order: orderOf(i),
        }),
      ),
    );
    assert.equal(tries.filter((r) => r.status === 201).length, 12);
    assert.equal(tries.filter((r) => r.status === 429 && r.body.error?.code === 'rate_limited').length, 48);
  });

  test('Redis down: velocity-limited campaigns answer 503, others 201, and the process stays up', async () => {
    const env = { REDIS_URL: dead_redis_url, VOUCHSAFE_ADMIN_KEY: admin_key, VOUCHSAFE_DATA_DIR: tempDir() };
    const node = await startNode(env);
    nodes.push(node);
    const admin = client(node.url, admin_key);
    const k = await keys(admin, env);
    const approver = client(node.url, k.approver);
    await launch(admin, approver, wireCampaign({ code: 'GUARDED', velocity: { per_user_per_minute: 5 } }));
    await launch(admin, approver, wireCampaign({ code: 'PLAIN' }));
    const till = client(node.url, k.checkout);
    const guarded = await till('POST', '/v1/redemptions', { user_id: 'u1', code: 'GUARDED', order: orderOf(1) });
    assert.equal(guarded.status, 503, JSON.stringify(guarded.body));
    assert.equal(guarded.body.error?.code, 'store_unavailable');
    const plain = await till('POST', '/v1/redemptions', { user_id: 'u1', code: 'PLAIN', order: orderOf(2) });
    assert.equal(plain.status, 201, JSON.stringify(plain.body));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(node.child.exitCode, null, `the process is still running:\n${node.output()}`);
    assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    assert.match(node.output(), /Redis/, 'the outage is logged');
    assert.ok(!node.output().includes('Unhandled'), node.output());
  });
});
