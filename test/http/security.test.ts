import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { limits } from '../../src/config/limits.ts';
import { hashApiKey } from '../../src/http/api-keys.ts';
import { key_cache_ms } from '../../src/http/auth.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { slowStore } from '../faults/slow-store.ts';
import { assertError, httpHarness, scopesOf } from './harness.ts';
import { rawRequest } from './raw-http.ts';

describe('security headers and CORS', () => {
  test('API answers carry nosniff, DENY framing, no-referrer and a deny-all CSP; no CORS header ever', async () => {
    const h = await httpHarness();
    const origin = { origin: 'https://evil.example' };
    const answers = [
      await h.call('GET', '/v1/campaigns', { key: 'read', headers: origin }),
      await h.call('GET', '/v1/campaigns', { key: null, headers: origin }),
      await h.call('GET', '/v1/nowhere', { key: 'read' }),
      await h.call('POST', '/v1/campaigns', { raw: '{oops' }),
      await h.call('GET', '/healthz', { key: null, headers: origin }),
      await h.call('GET', '/metrics', { key: 'read' }),
    ];
    const preflight = await h.app.inject({
      method: 'OPTIONS',
      url: '/v1/campaigns',
      headers: { ...origin, 'access-control-request-method': 'POST' },
    });
    answers.push({ status: preflight.statusCode, body: preflight.body, headers: preflight.headers });
    for (const res of answers) {
      const what = `${res.status} ${JSON.stringify(res.body).slice(0, 80)}`;
      assert.equal(res.headers['x-content-type-options'], 'nosniff', what);
      assert.equal(res.headers['x-frame-options'], 'DENY', what);
      assert.equal(res.headers['referrer-policy'], 'no-referrer', what);
      assert.match(String(res.headers['content-security-policy']), /default-src 'none'/, what);
      assert.match(String(res.headers['x-request-id']), /\S/, what);
      for (const name of Object.keys(res.headers)) assert.ok(!name.startsWith('access-control-'), `${name} on ${what}`);
    }
    await h.app.close();
  });
});

describe('failed authentication limit', () => {
  test('repeated 401s from one IP become 429 rate_limited with Retry-After; other IPs and later windows are unaffected', async () => {
    const h = await httpHarness();
    const from = (ip: string, key: string) =>
      h.app.inject({
        method: 'GET',
        url: '/v1/campaigns',
        remoteAddress: ip,
        headers: { authorization: `Bearer ${key}` },
      });
    const max = limits.auth_failures_per_window_max;
    for (let i = 0; i < max; i++) assert.equal((await from('10.0.0.1', `vs_wrong_${i}`)).statusCode, 401);
    const locked = await from('10.0.0.1', 'vs_wrong_again');
    assert.equal(locked.statusCode, 429);
    assert.equal(locked.json().error.code, 'rate_limited');
    assert.ok(Number(locked.headers['retry-after']) >= 1);
    // Even a good key waits if this node has not found it valid before: the address is refused before any lookup.
    assert.equal((await from('10.0.0.1', h.keys.read.secret)).statusCode, 429);
    assert.equal((await from('10.0.0.2', h.keys.read.secret)).statusCode, 200, 'another address is not affected');
    assert.equal((await from('10.0.0.2', 'vs_wrong')).statusCode, 401);
    h.clock.advance(limits.auth_failure_window_ms);
    assert.equal((await from('10.0.0.1', h.keys.read.secret)).statusCode, 200, 'the next window starts clean');
    await h.app.close();
  });
});

describe('failed authentication limit behind a shared address', () => {
  test('a key this node has found valid still passes from an address locked out by failed authentications', async () => {
    // A checkout's workers share one address (a host, a NAT, a load balancer); one of them still
    // sends a key that was rotated away.
    const h = await httpHarness();
    const from = (key: string) =>
      h.app.inject({
        method: 'GET',
        url: '/v1/campaigns',
        remoteAddress: '10.0.0.9',
        headers: { authorization: `Bearer ${key}` },
      });
    const old = await h.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
      body: { name: 'old', scopes: ['read'] },
    });
    const unused = await h.call<{ key: string }>('POST', '/v1/api-keys', {
      body: { name: 'unused', scopes: ['read'] },
    });
    assert.equal((await from(old.body.key)).statusCode, 200);
    assert.equal((await h.call('POST', `/v1/api-keys/${old.body.id}/revoke`, { body: {} })).status, 200);
    assert.equal((await from(h.keys.read.secret)).statusCode, 200, 'a healthy worker');
    for (let i = 0; i < limits.auth_failures_per_window_max; i++)
      assert.equal((await from(old.body.key)).statusCode, 401);
    const stale = await from(old.body.key);
    assert.equal(stale.statusCode, 429, 'the stale worker is refused');
    assert.equal(stale.json().error.code, 'rate_limited');
    assert.equal((await from(h.keys.read.secret)).statusCode, 200, 'the healthy worker is not');
    // Also once its cached verdict has expired (key_cache_ms): it is looked up again, not refused.
    await sleep(key_cache_ms + 100);
    assert.equal((await from(h.keys.read.secret)).statusCode, 200, 'nor after its cache entry expires');
    assert.equal((await from(old.body.key)).statusCode, 429, 'the revoked key stays refused');
    // A key this node has not seen valid waits for the window from that address, with no store lookup.
    assert.equal((await from(unused.body.key)).statusCode, 429);
    await h.app.close();
  });
});

describe('edge load shedding', () => {
  test('beyond inflight_max requests at once, new ones get 503 overloaded with Retry-After', async () => {
    const slowness = { batch_ms: 0, read_ms: 0 };
    const h = await httpHarness(
      {},
      { hardening: { inflight_max: 4 } },
      slowStore(new SqliteStore({ path: ':memory:' }), slowness),
    );
    slowness.read_ms = 200;
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => h.call('GET', '/v1/campaigns', { key: 'read' })),
    );
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 200).length, 4, String(statuses));
    for (const a of answers.filter((x) => x.status !== 200)) {
      assertError(a, 503, 'overloaded');
      assert.equal(a.headers['retry-after'], '1');
    }
    slowness.read_ms = 0;
    assert.equal((await h.call('GET', '/v1/campaigns', { key: 'read' })).status, 200, 'the count comes back down');
    // Over a real keep-alive socket too: every finished response gives its place back.
    const url = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const auth = { authorization: `Bearer ${h.keys.read.secret}` };
    for (let i = 0; i < 12; i++) assert.equal((await fetch(`${url}/v1/campaigns`, { headers: auth })).status, 200);
    await h.app.close();
  });
});

describe('API key revocation', () => {
  test('POST /v1/api-keys/{id}/revoke (admin): the key is 401 at once; twice is 409; unknown 404; others 403', async () => {
    const h = await httpHarness();
    const made = await h.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
      body: { name: 'pos', scopes: ['read'] },
    });
    assert.equal(made.status, 201);
    const use = () =>
      h.app.inject({ method: 'GET', url: '/v1/campaigns', headers: { authorization: `Bearer ${made.body.key}` } });
    assert.equal((await use()).statusCode, 200);
    assertError(await h.call('POST', `/v1/api-keys/${made.body.id}/revoke`, { key: 'read' }), 403, 'forbidden');
    // It takes no fields: one sent is refused, as on every other endpoint, and nothing is revoked.
    const withField = await h.call('POST', `/v1/api-keys/${made.body.id}/revoke`, { body: { id: 'key_other' } });
    assertError(withField, 400, 'invalid_request', 'id');
    assert.equal((await use()).statusCode, 200, 'a refused revocation changes nothing');
    const revoked = await h.call<Record<string, unknown>>('POST', `/v1/api-keys/${made.body.id}/revoke`);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.id, made.body.id);
    assert.equal(typeof revoked.body.revoked_at, 'string');
    assert.ok(!JSON.stringify(revoked.body).includes(made.body.key), 'no secret in the answer');
    assert.ok(!('hash' in revoked.body), 'no hash in the answer');
    assert.equal((await use()).statusCode, 401, 'revoked at once, not a cache second later');
    assertError(await h.call('POST', `/v1/api-keys/${made.body.id}/revoke`), 409, 'invalid_state');
    assertError(await h.call('POST', '/v1/api-keys/key_nope/revoke'), 404, 'not_found');
    const chain = await h.store.auditChain('platform');
    assert.ok(chain.some((e) => e.action === 'api_key.revoked' && e.subject === made.body.id));
    await h.app.close();
  });

  test('a key lookup under way while the key is revoked does not keep it working here for a cache second', async () => {
    // The store reads one key hash at once but answers only when the test lets it.
    let held: { hash: string; started: () => void; release: Promise<void> } | null = null;
    const inner = new SqliteStore({ path: ':memory:' });
    const store = new Proxy(inner, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'findApiKeyByHash') return typeof value === 'function' ? value.bind(target) : value;
        return async (hash: string) => {
          const found = await target.findApiKeyByHash(hash);
          const hold = held;
          if (hold !== null && hold.hash === hash) {
            held = null;
            hold.started();
            await hold.release;
          }
          return found;
        };
      },
    });
    const h = await httpHarness({}, {}, store);
    const made = await h.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
      body: { name: 'pos', scopes: ['read'] },
    });
    assert.equal(made.status, 201);
    const use = () =>
      h.app.inject({ method: 'GET', url: '/v1/campaigns', headers: { authorization: `Bearer ${made.body.key}` } });
    let release = () => {};
    const started = new Promise<void>((resolve) => {
      held = {
        hash: hashApiKey(made.body.key),
        started: resolve,
        release: new Promise<void>((r) => {
          release = r;
        }),
      };
    });
    // Its first request reads the key (still live), and the read is slow to come back.
    const inFlight = use();
    await started;
    assert.equal((await h.call('POST', `/v1/api-keys/${made.body.id}/revoke`)).status, 200);
    release();
    // Read before the revocation: whatever it answers, it must not be remembered as valid.
    await inFlight;
    assert.equal((await use()).statusCode, 401, 'revoked at once, not once the late lookup has expired');
    await h.app.close();
  });

  test('GET /v1/api-keys (admin): every key newest first, revoked ones with revoked_at, pages, never a secret or hash', async () => {
    const h = await httpHarness();
    const made: Array<{ id: string; key: string }> = [];
    for (const name of ['till 1', 'till 2', 'till 3']) {
      const res = await h.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
        body: { name, scopes: ['checkout'] },
      });
      assert.equal(res.status, 201);
      made.push(res.body);
    }
    assert.equal((await h.call('POST', `/v1/api-keys/${made[0]?.id}/revoke`)).status, 200);
    type KeyList = { data: Array<Record<string, unknown>>; has_more: boolean };
    const all = await h.call<KeyList>('GET', '/v1/api-keys?limit=100');
    assert.equal(all.status, 200, JSON.stringify(all.body));
    const stored = await h.store.listApiKeys();
    assert.deepEqual(
      all.body.data.map((k) => k.id),
      stored.map((k) => k.id),
      'every stored key, in the store order',
    );
    const ids = all.body.data.map((k) => String(k.id));
    assert.deepEqual(ids, [...ids].sort().reverse(), 'newest first');
    assert.deepEqual(ids.slice(0, 3), made.map((m) => m.id).reverse());
    const first = all.body.data.find((k) => k.id === made[0]?.id);
    assert.equal(typeof first?.revoked_at, 'string');
    assert.equal(all.body.data.find((k) => k.id === made[2]?.id)?.revoked_at, null);
    assert.deepEqual(Object.keys(first ?? {}).sort(), [
      'created_at',
      'created_by',
      'id',
      'name',
      'replaces',
      'revoked_at',
      'scopes',
    ]);
    const text = JSON.stringify(all.body);
    for (const m of made) assert.ok(!text.includes(m.key), 'no secret');
    for (const k of stored) assert.ok(!text.includes(k.hash), 'no hash');
    // Pages of two, walked with starting_after, give the same list.
    const walked: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await h.call<KeyList>('GET', `/v1/api-keys?limit=2${after ? `&starting_after=${after}` : ''}`);
      assert.equal(page.status, 200);
      walked.push(...page.body.data.map((k) => String(k.id)));
      after = walked[walked.length - 1];
      if (!page.body.has_more) break;
    }
    assert.deepEqual(walked, ids);
    for (const key of ['read', 'checkout', 'approver'] as const)
      assertError(await h.call('GET', '/v1/api-keys', { key }), 403, 'forbidden');
    assertError(await h.call('GET', '/v1/api-keys?limit=0'), 400, 'invalid_request');
    await h.app.close();
  });

  test('GET /v1/api-keys/current: any key reads itself (id, name, scopes), never its secret or hash', async () => {
    const h = await httpHarness();
    for (const name of ['admin', 'approver', 'checkout', 'read'] as const) {
      const res = await h.call<Record<string, unknown>>('GET', '/v1/api-keys/current', { key: name });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(
        { ...res.body, created_at: '' },
        {
          id: h.keys[name].id,
          name,
          scopes: scopesOf[name],
          created_at: '',
          revoked_at: null,
          created_by: null,
          replaces: null,
        },
      );
      assert.ok(!JSON.stringify(res.body).includes(h.keys[name].secret));
    }
    assertError(await h.call('GET', '/v1/api-keys/current', { key: null }), 401, 'unauthenticated');
    await h.app.close();
  });

  test('POST /v1/api-keys/{id}/rotate (admin): a new key with the same name and scopes, the old one 401 at once', async () => {
    const h = await httpHarness();
    const made = await h.call<{ id: string; key: string }>('POST', '/v1/api-keys', {
      body: { name: 'till 9', scopes: ['checkout', 'read'] },
    });
    const use = (key: string) =>
      h.app.inject({ method: 'GET', url: '/v1/campaigns', headers: { authorization: `Bearer ${key}` } });
    assert.equal((await use(made.body.key)).statusCode, 200);
    assertError(await h.call('POST', `/v1/api-keys/${made.body.id}/rotate`, { key: 'read' }), 403, 'forbidden');
    // The new key keeps the name and scopes: a body asking for others is refused, not ignored.
    const asking = { name: 'till 10', scopes: ['admin'] };
    assertError(await h.call('POST', `/v1/api-keys/${made.body.id}/rotate`, { body: asking }), 400, 'invalid_request');
    assert.equal((await use(made.body.key)).statusCode, 200, 'a refused rotation changes nothing');
    const rotate = () =>
      h.call<Record<string, unknown>>('POST', `/v1/api-keys/${made.body.id}/rotate`, { idem: 'roll-1' });
    const rotated = await rotate();
    assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
    assert.equal(rotated.body.name, 'till 9');
    assert.deepEqual(rotated.body.scopes, ['checkout', 'read']);
    assert.equal(rotated.body.replaces, made.body.id);
    assert.notEqual(rotated.body.id, made.body.id);
    const fresh = String(rotated.body.key);
    assert.match(fresh, /^vs_[a-z2-7]{52}$/);
    assert.equal((await use(made.body.key)).statusCode, 401, 'the old key stops at once');
    assert.equal((await use(fresh)).statusCode, 200);
    // The same Idempotency-Key replays the same answer (the same new key), and makes no third key.
    const replay = await rotate();
    assert.equal(replay.status, 201);
    assert.deepEqual(replay.body, rotated.body);
    const keys = await h.store.listApiKeys();
    assert.equal(keys.filter((k) => k.name === 'till 9').length, 2);
    assertError(await h.call('POST', `/v1/api-keys/${made.body.id}/rotate`), 409, 'invalid_state');
    assertError(await h.call('POST', '/v1/api-keys/key_nope/rotate'), 404, 'not_found');
    const chain = await h.store.auditChain('platform');
    const revoked = chain.find((e) => e.action === 'api_key.revoked' && e.subject === made.body.id);
    assert.deepEqual(JSON.parse(revoked?.data_json ?? 'null'), { replaced_by: rotated.body.id });
    await h.app.close();
  });
});

describe('the matched route decides, not the URL as sent', () => {
  // Both reach GET /v1/api-keys/current; node:http and fetch would never send them, a client can.
  const spellings = ['http://x/v1/api-keys/current', '/%76%31/api-keys/current'];

  for (const target of spellings) {
    test(`GET ${target}: failed keys are limited and answers are not stored by caches`, {
      timeout: 120_000,
    }, async () => {
      const h = await httpHarness();
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = h.app.server.address() as AddressInfo;
      try {
        const get = (key: string) =>
          rawRequest(port, [`GET ${target} HTTP/1.1`, 'host: x', `authorization: Bearer ${key}`]);
        const ok = await get(h.keys.read.secret);
        assert.equal(ok.status, 200, ok.body);
        assert.equal(JSON.parse(ok.body).id, h.keys.read.id, 'the route it reached');
        assert.match(ok.head, /\r\ncache-control: no-store\r\n/i);
        for (let i = 0; i < limits.auth_failures_per_window_max; i++)
          assert.equal((await get(`vs_wrong_${i}`)).status, 401);
        const locked = await get('vs_wrong_again');
        assert.equal(locked.status, 429, locked.body);
        assert.match(locked.body, /"code":"rate_limited"/);
      } finally {
        await h.app.close();
      }
    });
  }
});
