import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { linkAudit } from '../../src/engine/audit.ts';
import { hashApiKey } from '../../src/http/api-keys.ts';
import { key_cache_ms } from '../../src/http/auth.ts';
import { ensureAdminKey } from '../../src/http/bootstrap-key.ts';
import { makeLogger } from '../../src/http/logger.ts';
import type { CampaignWire } from '../../src/http/views.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import {
  activeCampaign,
  assertError,
  campaignBody,
  claim,
  httpHarness,
  type KeyName,
  type Method,
  orderBody,
} from './harness.ts';

describe('authentication', () => {
  test('missing, malformed, unknown and revoked keys are 401 unauthenticated', async () => {
    const h = await httpHarness();
    assertError(await h.call('GET', '/v1/campaigns', { key: null }), 401, 'unauthenticated');
    assertError(
      await h.call('GET', '/v1/campaigns', { key: null, headers: { authorization: 'Basic abc' } }),
      401,
      'unauthenticated',
    );
    assertError(
      await h.call('GET', '/v1/campaigns', { key: null, headers: { authorization: 'Bearer vs_unknown' } }),
      401,
      'unauthenticated',
    );
    const huge = `Bearer ${'a'.repeat(5000)}`;
    assertError(
      await h.call('GET', '/v1/campaigns', { key: null, headers: { authorization: huge } }),
      401,
      'unauthenticated',
    );
    assertError(await h.call('POST', '/v1/campaigns', { key: null, body: campaignBody() }), 401, 'unauthenticated');
    assertError(await h.call('GET', '/v1/no-such-route', { key: null }), 401, 'unauthenticated');
    const lower = await h.call('GET', '/v1/campaigns', {
      key: null,
      headers: { authorization: `bearer ${h.keys.read.secret}` },
    });
    assert.equal(lower.status, 200, 'the scheme is case-insensitive');
    const at_ms = h.clock.now();
    const draft = {
      chain: 'platform',
      at_ms,
      actor: null,
      action: 'api_key.revoked',
      subject: h.keys.read.id,
      data: {},
    };
    await h.store.revokeApiKey(h.keys.read.id, at_ms, (prev) => linkAudit(draft, prev));
    // Key lookups are cached for key_cache_ms; a revocation counts once that has passed.
    await new Promise((r) => setTimeout(r, key_cache_ms + 50));
    assertError(await h.call('GET', '/v1/campaigns', { key: 'read' }), 401, 'unauthenticated');
  });

  test('keys are stored only as their sha256', async () => {
    const h = await httpHarness();
    const rows = await h.store.listApiKeys();
    for (const k of Object.values(h.keys)) {
      const row = rows.find((r) => r.id === k.id);
      assert.equal(row?.hash, hashApiKey(k.secret));
      assert.ok(!JSON.stringify(rows).includes(k.secret));
      assert.match(k.secret, /^vs_[a-z2-7]{52}$/);
    }
  });

  test('scopes: each endpoint admits its scopes and admin; others are 403 forbidden', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const coupon = await claim(h, c.id, 'u1');
    const redeemBody = { user_id: 'u1', code: coupon.code, order: orderBody() };
    const routes: Array<[Method, string, unknown, KeyName[]]> = [
      ['POST', '/v1/campaigns', campaignBody(), ['admin']],
      ['GET', '/v1/campaigns', undefined, ['admin', 'read']],
      ['GET', `/v1/campaigns/${c.id}`, undefined, ['admin', 'read']],
      ['GET', `/v1/campaigns/${c.id}/exposure`, undefined, ['admin', 'read']],
      ['POST', `/v1/campaigns/${c.id}/submit`, undefined, ['admin']],
      ['POST', `/v1/campaigns/${c.id}/approve`, undefined, ['admin', 'approver']],
      ['POST', `/v1/campaigns/${c.id}/pause`, undefined, ['admin']],
      ['POST', `/v1/campaigns/${c.id}/resume`, undefined, ['admin']],
      ['POST', `/v1/campaigns/${c.id}/revoke`, undefined, ['admin']],
      ['POST', `/v1/campaigns/${c.id}/codes`, { count: 1 }, ['admin']],
      ['POST', '/v1/claims', { campaign_id: c.id, user_id: 'u2' }, ['admin', 'checkout']],
      ['POST', '/v1/validations', redeemBody, ['admin', 'checkout']],
      ['POST', '/v1/redemptions', redeemBody, ['admin', 'checkout']],
      ['GET', '/v1/redemptions', undefined, ['admin', 'read']],
      ['GET', '/v1/redemptions/rdm_x', undefined, ['admin', 'read']],
      ['POST', '/v1/redemptions/rdm_x/confirm', undefined, ['admin', 'checkout']],
      ['POST', '/v1/redemptions/rdm_x/release', undefined, ['admin', 'checkout']],
      ['POST', '/v1/redemptions/rdm_x/reverse', undefined, ['admin', 'checkout']],
      ['POST', '/v1/api-keys', { name: 'n', scopes: ['read'] }, ['admin']],
      ['GET', '/v1/api-keys', undefined, ['admin']],
      ['GET', '/v1/api-keys/current', undefined, ['admin', 'approver', 'checkout', 'read']],
      ['POST', '/v1/api-keys/key_x/revoke', undefined, ['admin']],
      ['POST', '/v1/api-keys/key_x/rotate', undefined, ['admin']],
      ['GET', '/v1/audit', undefined, ['admin', 'read']],
      ['GET', '/v1/audit/verify', undefined, ['admin', 'read']],
      // An invalid body: admin gets as far as a 400, so no address is ever resolved.
      ['POST', '/v1/webhooks', { url: 'https://example.invalid/hook', events: [] }, ['admin']],
      ['GET', '/v1/webhooks', undefined, ['admin', 'read']],
      ['GET', '/v1/webhooks/whk_x', undefined, ['admin', 'read']],
      ['GET', '/v1/webhooks/whk_x/deliveries', undefined, ['admin', 'read']],
      ['DELETE', '/v1/webhooks/whk_x', undefined, ['admin']],
      ['POST', '/v1/campaigns/lint', {}, ['admin']],
      ['GET', '/v1/audit/digest', undefined, ['admin', 'read']],
      ['GET', '/v1/alerts', undefined, ['admin', 'read']],
      // Invalid bodies again: admin gets a 400 (an emergency stop with a reason would pause everything).
      ['POST', '/v1/incidents', {}, ['admin']],
      ['GET', '/v1/incidents', undefined, ['admin', 'read']],
      ['GET', '/v1/incidents/inc_x', undefined, ['admin', 'read']],
      ['POST', '/v1/incidents/inc_x/resolve', { resolution: 'reverse' }, ['admin']],
      ['POST', '/v1/emergency-stop', {}, ['admin']],
      ['POST', '/v1/red-envelopes', {}, ['admin']],
      ['GET', '/v1/red-envelopes', undefined, ['admin', 'read']],
      ['GET', '/v1/red-envelopes/env_x', undefined, ['admin', 'read']],
      ['POST', '/v1/red-envelopes/env_x/grab', { user_id: 'u9' }, ['admin', 'checkout']],
    ];
    const keys: KeyName[] = ['approver', 'checkout', 'read', 'admin'];
    for (const [method, url, body, allowed] of routes) {
      for (const key of keys) {
        const res = await h.call(method, url, { key, ...(body !== undefined ? { body } : {}) });
        const label = `${key} ${method} ${url} -> ${res.status} ${JSON.stringify(res.body)}`;
        if (allowed.includes(key)) assert.ok(res.status !== 401 && res.status !== 403, label);
        else assertError(res, 403, 'forbidden');
      }
    }
  });

  test('healthz, openapi and docs need no key', async () => {
    const h = await httpHarness();
    const health = await h.call('GET', '/healthz', { key: null });
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { ok: true });
    assert.equal((await h.call('GET', '/openapi.json', { key: null })).status, 200);
    assert.equal((await h.call('GET', '/docs', { key: null })).status, 200);
  });

  test('metrics show every campaign budget: a read or admin key only', async () => {
    const h = await httpHarness();
    for (const method of ['GET', 'HEAD'] as const) {
      const none = await h.app.inject({ method, url: '/metrics' });
      assert.equal(none.statusCode, 401, method);
      const wrong = await h.app.inject({ method, url: '/metrics', headers: { authorization: 'Bearer vs_wrong' } });
      assert.equal(wrong.statusCode, 401, method);
    }
    assertError(await h.call('GET', '/metrics', { key: null }), 401, 'unauthenticated');
    for (const key of ['read', 'admin'] as const) {
      const res = await h.call<string>('GET', '/metrics', { key });
      assert.equal(res.status, 200, key);
      assert.match(res.body, /^# HELP /m, key);
      assert.equal(res.headers['cache-control'], 'no-store', key);
    }
    for (const key of ['checkout', 'approver'] as const)
      assertError(await h.call('GET', '/metrics', { key }), 403, 'forbidden');
  });

  test('POST /v1/api-keys returns the key once; it works with its scopes only', async () => {
    const h = await httpHarness();
    const res = await h.call<{ id: string; key: string; scopes: string[]; name: string }>('POST', '/v1/api-keys', {
      body: { name: 'till 7', scopes: ['checkout', 'read'] },
    });
    assert.equal(res.status, 201);
    assert.match(res.body.id, /^key_/);
    assert.deepEqual(res.body.scopes, ['checkout', 'read']);
    assert.equal(res.headers['cache-control'], 'no-store');
    const auth = { authorization: `Bearer ${res.body.key}` };
    assert.equal((await h.call('GET', '/v1/campaigns', { key: null, headers: auth })).status, 200);
    assertError(
      await h.call('POST', '/v1/campaigns', { key: null, headers: auth, body: campaignBody() }),
      403,
      'forbidden',
    );
    assertError(
      await h.call('POST', '/v1/api-keys', { body: { name: 'x', scopes: ['root'] } }),
      400,
      'invalid_request',
      'scopes[0]',
    );
    assertError(
      await h.call('POST', '/v1/api-keys', { body: { name: 'x', scopes: [] } }),
      400,
      'invalid_request',
      'scopes',
    );
    assertError(
      await h.call('POST', '/v1/api-keys', { body: { name: 'x', scopes: ['read', 'read'] } }),
      400,
      'invalid_request',
      'scopes',
    );
    const audit = await h.store.auditChain('platform');
    assert.ok(
      audit.some((e) => e.action === 'api_key.created' && e.subject === res.body.id && e.actor === h.keys.admin.id),
    );
  });
});

describe('bootstrap admin key', () => {
  test('random: printed once, written to <data dir>/admin.key with mode 0600; then a no-op', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const data_dir = mkdtempSync(join(tmpdir(), 'vouchsafe-'));
    const printed: string[] = [];
    const first = await ensureAdminKey({ store, data_dir, print: (l) => printed.push(l) });
    assert.equal(first.created, true);
    assert.ok(first.created && first.source === 'random');
    const path = join(data_dir, 'admin.key');
    const secret = readFileSync(path, 'utf8').trim();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(printed.length, 1);
    assert.ok(printed[0]?.includes(secret));
    const row = await store.findApiKeyByHash(hashApiKey(secret));
    assert.deepEqual(row?.scopes, ['admin']);
    assert.deepEqual(await ensureAdminKey({ store, data_dir, print: (l) => printed.push(l) }), { created: false });
    assert.equal(printed.length, 1);
  });

  test('random, where admin.key cannot be written (PostgreSQL on a read-only disk): still printed once, never lost', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const file = join(mkdtempSync(join(tmpdir(), 'vouchsafe-')), 'not-a-dir');
    writeFileSync(file, '');
    const data_dir = join(file, 'data');
    const printed: string[] = [];
    const first = await ensureAdminKey({ store, data_dir, print: (l) => printed.push(l) });
    assert.ok(first.created && first.source === 'random');
    assert.equal(first.path, null);
    assert.equal(printed.length, 1);
    assert.match(
      printed[0] ?? '',
      /^vouchsafe: created the admin API key \(shown once; could not write [^)]*admin\.key: /,
    );
    assert.ok(printed[0]?.endsWith(`: ${first.secret}`));
    const row = await store.findApiKeyByHash(hashApiKey(first.secret));
    assert.deepEqual(row?.scopes, ['admin']);
    // The next start finds the key and makes none: the one printed is the way in.
    assert.deepEqual(await ensureAdminKey({ store, data_dir, print: (l) => printed.push(l) }), { created: false });
  });

  test('VOUCHSAFE_ADMIN_KEY: that value becomes the admin key, nothing printed', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const data_dir = mkdtempSync(join(tmpdir(), 'vouchsafe-'));
    const printed: string[] = [];
    const res = await ensureAdminKey({
      store,
      data_dir,
      admin_key: 'vs_from_the_environment_0123456789',
      print: (l) => printed.push(l),
    });
    assert.equal(res.created && res.source, 'env');
    assert.equal(printed.length, 0);
    assert.ok(await store.findApiKeyByHash(hashApiKey('vs_from_the_environment_0123456789')));
  });

  test('a weak VOUCHSAFE_ADMIN_KEY (admin) is refused, and no key is made', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const data_dir = mkdtempSync(join(tmpdir(), 'vouchsafe-'));
    await assert.rejects(ensureAdminKey({ store, data_dir, admin_key: 'admin' }), /VOUCHSAFE_ADMIN_KEY must be 32/);
    assert.equal(await store.countApiKeys(), 0);
  });
});

describe('request ids and logs', () => {
  test('every response carries x-request-id; a plain client id is kept', async () => {
    const h = await httpHarness();
    const gen = await h.call('GET', '/healthz', { key: null });
    assert.match(String(gen.headers['x-request-id']), /^req_/);
    const kept = await h.call('GET', '/healthz', { key: null, headers: { 'x-request-id': 'abc-123' } });
    assert.equal(kept.headers['x-request-id'], 'abc-123');
    const replaced = await h.call('GET', '/healthz', { key: null, headers: { 'x-request-id': 'evil\u0007id' } });
    assert.match(String(replaced.headers['x-request-id']), /^req_/);
    for (const res of [
      await h.call('GET', '/v1/campaigns', { key: null }),
      await h.call('GET', '/nowhere', { key: null }),
      await h.call('POST', '/v1/campaigns', { raw: '{oops' }),
      await h.call('GET', '/v1/campaigns/%E0%A4%A'),
    ]) {
      assert.match(String(res.headers['x-request-id']), /^req_/, JSON.stringify(res.body));
    }
  });

  test('logs carry neither API keys nor coupon codes', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const h = await httpHarness({}, { logger: makeLogger('trace', sink) });
    const c = await activeCampaign(h, { code_mode: 'shared_code', code: 'SECRETCODE', per_user_limit: 3 });
    const coupon = await h.call<CampaignWire>('GET', `/v1/campaigns/${c.id}`);
    assert.equal(coupon.body.code, 'SECRETCODE');
    await h.call('POST', '/v1/redemptions', {
      key: 'checkout',
      body: { user_id: 'u1', code: 'secretcode', order: orderBody() },
    });
    await h.call('POST', '/v1/redemptions', { key: 'checkout', body: { user_id: 'u1', code: 'secretcode', order: 5 } });
    await h.call('GET', '/v1/campaigns', { key: null, headers: { authorization: 'Bearer vs_leaked_if_logged' } });
    const text = lines.join('');
    assert.ok(text.length > 0, 'something was logged');
    for (const k of Object.values(h.keys)) assert.ok(!text.includes(k.secret), 'no API key in logs');
    assert.ok(!text.includes('vs_leaked_if_logged'));
    assert.ok(!text.toLowerCase().includes('secretcode'), 'no code in logs');
    assert.ok(text.includes('request_id'));
  });
});
