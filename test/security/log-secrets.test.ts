import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { client, launch, serverKey, startNode, wireCampaign } from '../support/node-process.ts';

const admin_key = 'vs_test_admin_key_that_must_never_be_logged';

function order(i: number) {
  return { id: `o${i}`, merchant_id: 'm1', amount_minor: 5000, currency: 'CNY', product_kind: 'merchandise' };
}

test('a server at LOG_LEVEL=debug logs no key, webhook secret, code or Idempotency-Key; every request line has its request_id', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vs-logs-'));
  const env = {
    VOUCHSAFE_DATA_DIR: dir,
    VOUCHSAFE_ADMIN_KEY: admin_key,
    VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE: '1',
    LOG_LEVEL: 'debug',
  };
  const node = await startNode(env);
  const secrets: string[] = [admin_key];
  const codes: string[] = ['SHAREDSECRETX'];
  try {
    const admin = client(node.url, admin_key);
    const keyOf = async (name: string, scopes: string[]) => {
      const k = String((await admin('POST', '/v1/api-keys', { name, scopes })).body.key);
      secrets.push(k);
      return k;
    };
    // Made on the server: a key the admin key minted could not approve what the admin key makes.
    const approver_key = await serverKey(env, 'ap', ['approver']);
    secrets.push(approver_key);
    const approver = client(node.url, approver_key);
    const checkout = client(node.url, await keyOf('co', ['checkout']));
    const doomed = await admin('POST', '/v1/api-keys', { name: 'doomed', scopes: ['read'] });
    secrets.push(String(doomed.body.key));
    assert.equal((await admin('POST', `/v1/api-keys/${String(doomed.body.id)}/revoke`, {})).status, 200);
    const hook = await admin('POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/hook',
      events: ['redemption.confirmed'],
    });
    assert.equal(hook.status, 201, JSON.stringify(hook.body));
    secrets.push(String(hook.body.secret));

    await launch(admin, approver, wireCampaign({ code: 'SHAREDSECRETX' }));
    const claimed = await launch(admin, approver, wireCampaign({ code_mode: 'claim', code: undefined }));
    const unique = await launch(admin, approver, wireCampaign({ code_mode: 'unique_codes', code: undefined }));
    const made = await admin('POST', `/v1/campaigns/${String(unique.id)}/codes`, { count: 3 });
    codes.push(...(made.body.codes as string[]));
    for (let i = 0; i < 3; i++) {
      const c = await checkout('POST', '/v1/claims', { campaign_id: claimed.id, user_id: `u${i}` });
      codes.push(String(c.body.code));
    }
    let i = 0;
    for (const code of codes) {
      const user_id = code === codes[4] ? 'u0' : code === codes[5] ? 'u1' : code === codes[6] ? 'u2' : `x${i}`;
      await checkout('POST', '/v1/validations', { user_id, code, order: order(i++) });
      const idem = `idem-secret-${i}`;
      secrets.push(idem);
      await checkout(
        'POST',
        '/v1/redemptions',
        { user_id, code, confirm: true, order: order(i++) },
        { 'idempotency-key': idem },
      );
      await checkout('POST', '/v1/redemptions', { user_id, code: code.toLowerCase(), order: order(i++) });
    }
    await checkout('POST', '/v1/redemptions', { user_id: 'g', code: 'GUESSEDSECRET1', order: order(i++) });
    codes.push('GUESSEDSECRET1');
    const bogus = 'vs_bogus_key_must_not_be_logged';
    secrets.push(bogus);
    await client(node.url, bogus)('GET', '/v1/campaigns');
    await checkout('POST', '/v1/redemptions', {
      user_id: 'bad',
      code: codes[1],
      order: { ...order(i++), amount_minor: -1 },
    });
  } finally {
    await node.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
  const out = node.output();
  const lines = out.split('\n').filter((l) => l.startsWith('{'));
  assert.ok(lines.length > 50, `debug logs were written (${lines.length} lines)`);
  const lower = out.toLowerCase();
  for (const s of secrets) assert.ok(!out.includes(s), `a secret or key appears in the logs: ${s.slice(0, 6)}...`);
  assert.ok(codes.length >= 8, 'codes were used');
  for (const code of codes)
    assert.ok(!lower.includes(code.toLowerCase()), `a code appears in the logs: ${code.slice(0, 3)}...`);
  let requestLines = 0;
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (!('req' in entry || 'res' in entry || 'responseTime' in entry)) continue;
    requestLines++;
    assert.ok(typeof entry.request_id === 'string', `a request log line without request_id: ${line.slice(0, 200)}`);
  }
  assert.ok(requestLines > 20, 'request lines were checked');
});
