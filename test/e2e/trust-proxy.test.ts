import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { startNode } from '../support/node-process.ts';

const admin_key = 'vs_trust_proxy_admin_key_0000000000001';

/** GET /v1/campaigns with a key, as the proxy in front forwards a client's request. */
async function asClient(url: string, client_ip: string, key: string): Promise<number> {
  const res = await fetch(`${url}/v1/campaigns`, {
    headers: { authorization: `Bearer ${key}`, 'x-forwarded-for': client_ip },
  });
  await res.arrayBuffer();
  return res.status;
}

test('VOUCHSAFE_TRUST_PROXY: behind a proxy, failed authentications count per client, not per proxy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-proxy-'));
  // The load balancer in front (here this test, on loopback) names the client in X-Forwarded-For.
  const node = await startNode({
    VOUCHSAFE_DATA_DIR: dir,
    VOUCHSAFE_ADMIN_KEY: admin_key,
    VOUCHSAFE_TRUST_PROXY: '127.0.0.1',
  });
  try {
    for (let i = 0; i < limits.auth_failures_per_window_max; i++) {
      assert.equal(await asClient(node.url, '203.0.113.5', `vs_wrong_${i}`), 401);
    }
    assert.equal(await asClient(node.url, '203.0.113.5', 'vs_wrong_again'), 429, 'the guessing client is refused');
    assert.equal(
      await asClient(node.url, '203.0.113.6', 'vs_wrong'),
      401,
      'another client through the same proxy is not',
    );
    assert.equal(await asClient(node.url, '203.0.113.6', admin_key), 200);
  } finally {
    await node.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without VOUCHSAFE_TRUST_PROXY the forwarded header is ignored: the connecting address counts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-proxy-'));
  const node = await startNode({ VOUCHSAFE_DATA_DIR: dir, VOUCHSAFE_ADMIN_KEY: admin_key });
  try {
    for (let i = 0; i < limits.auth_failures_per_window_max; i++) {
      // A client cannot dodge the limit by writing a new X-Forwarded-For each time.
      assert.equal(await asClient(node.url, `198.51.100.${i}`, `vs_wrong_${i}`), 401);
    }
    assert.equal(await asClient(node.url, '198.51.100.250', 'vs_wrong_again'), 429);
  } finally {
    await node.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
