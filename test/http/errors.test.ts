import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { InvariantViolation, Rejection, type RejectionCode } from '../../src/domain/errors.ts';
import { schemaError } from '../../src/http/app.ts';
import { statusByCode } from '../../src/http/error-status.ts';
import { makeLogger } from '../../src/http/logger.ts';
import { StoreUnavailable } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import {
  activeCampaign,
  assertError,
  assertInvariants,
  campaignBody,
  httpHarness,
  type Method,
  orderBody,
} from './harness.ts';

/** The API.md error table, verbatim. */
const apiTable: Record<number, RejectionCode[]> = {
  400: ['invalid_request'],
  401: ['unauthenticated'],
  403: ['forbidden', 'approval_self_forbidden'],
  404: ['not_found', 'coupon_not_found'],
  409: ['coupon_already_redeemed', 'idempotency_key_reused', 'invalid_state', 'already_grabbed'],
  413: ['payload_too_large'],
  422: [
    'coupon_expired',
    'coupon_revoked',
    'campaign_not_started',
    'campaign_ended',
    'campaign_not_active',
    'campaign_paused',
    'campaign_revoked',
    'coupon_not_eligible_user',
    'min_spend_not_met',
    'product_kind_not_eligible',
    'merchant_not_eligible',
    'currency_mismatch',
    'budget_exhausted',
    'usage_limit_reached',
    'per_user_limit_reached',
    'per_merchant_limit_reached',
    'campaign_lint_failed',
    'red_envelope_empty',
    'red_envelope_expired',
  ],
  429: ['rate_limited', 'too_many_attempts'],
  500: ['internal_error'],
  503: ['store_unavailable', 'overloaded'],
};

function logSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: makeLogger('info', sink) };
}

describe('error mapping', () => {
  test('a schema failure is raised without a stack trace, and stack traces stay on for everything else', () => {
    const before = Error.stackTraceLimit;
    const err = schemaError(
      [{ keyword: 'typebox', instancePath: '/confirm', schemaPath: '', params: {}, message: 'Expected boolean' }],
      'body',
    );
    assert.equal(err.message, 'body: Expected boolean');
    assert.doesNotMatch(err.stack ?? '', /\n\s+at /);
    assert.equal(Error.stackTraceLimit, before);
    assert.match(new Error('other').stack ?? '', /\n\s+at /);
  });

  test('statusByCode is exactly the API.md table', () => {
    const fromTable = Object.entries(apiTable).flatMap(([status, codes]) =>
      codes.map((c) => [c, Number(status)] as const),
    );
    assert.deepEqual(Object.fromEntries(fromTable), statusByCode);
  });

  test('a broken invariant is a 500 internal_error, logged loudly, with no detail in the body', async () => {
    const log = logSink();
    const h = await httpHarness({}, { logger: log.logger });
    h.app.get('/v1/test/invariant', { config: { scopes: ['read'] } }, async () => {
      throw new InvariantViolation('spent went negative');
    });
    h.app.get('/v1/test/bug', { config: { scopes: ['read'] } }, async () => {
      throw new TypeError('cannot read x of undefined');
    });
    const res = await h.call('GET', '/v1/test/invariant', { key: 'read' });
    assertError(res, 500, 'internal_error');
    assert.ok(!JSON.stringify(res.body).includes('spent went negative'));
    const bug = await h.call('GET', '/v1/test/bug', { key: 'read' });
    assertError(bug, 500, 'internal_error');
    assert.ok(!JSON.stringify(bug.body).includes('undefined'));
    const entries = log.lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { stack?: string } });
    const fatal = entries.find((e) => e.level === 60);
    assert.ok(fatal, 'an invariant violation is logged at fatal');
    assert.ok(fatal.err?.stack?.includes('spent went negative'), 'the stack goes to the log');
    assert.ok(entries.some((e) => e.level === 50 && e.err?.stack?.includes('cannot read x')));
  });

  test('a store outage is 503 store_unavailable with Retry-After', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const h = await httpHarness({}, {}, store);
    const c = await activeCampaign(h);
    store.getCampaign = async () => {
      throw new StoreUnavailable('connection refused');
    };
    const res = await h.call('GET', `/v1/campaigns/${c.id}`, { key: 'read' });
    assertError(res, 503, 'store_unavailable');
    assert.equal(res.headers['retry-after'], '1');
    store.findApiKeyByHash = async () => {
      throw new StoreUnavailable('connection refused');
    };
    // A key not looked up yet (the read key's lookup is cached for key_cache_ms).
    const auth = await h.call('GET', '/v1/campaigns', { key: 'approver' });
    assertError(auth, 503, 'store_unavailable');
    assert.equal(auth.headers['retry-after'], '1');
  });

  test('a service away (store_unavailable, as guards raise it when Redis is down) is a warning, not an internal error', async () => {
    const log = logSink();
    const h = await httpHarness({}, { logger: log.logger });
    h.app.get('/v1/test/redis-down', { config: { scopes: ['read'] } }, async () => {
      throw new Rejection('store_unavailable', 'velocity counters unavailable', undefined, 1);
    });
    const res = await h.call('GET', '/v1/test/redis-down', { key: 'read' });
    assertError(res, 503, 'store_unavailable');
    assert.equal(res.headers['retry-after'], '1');
    const entries = log.lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message?: string } });
    assert.ok(
      entries.every((e) => e.level < 50),
      JSON.stringify(entries),
    );
    assert.ok(entries.some((e) => e.level === 40 && e.err?.message === 'velocity counters unavailable'));
  });

  test('a Rejection with retry_after_s sets Retry-After; an engine with a full queue answers 503 overloaded', async () => {
    const h = await httpHarness();
    h.app.get('/v1/test/slow-down', { config: { scopes: ['read'] } }, async () => {
      throw new Rejection('rate_limited', 'slow down', undefined, 7);
    });
    const res = await h.call('GET', '/v1/test/slow-down', { key: 'read' });
    assertError(res, 429, 'rate_limited');
    assert.equal(res.headers['retry-after'], '7');

    const full = await httpHarness({ queue_commands_max: 0 });
    const c = await full.engine.createCampaign(
      {
        name: 'x',
        currency: 'CNY',
        discount: { type: 'fixed', amount_minor: 100 },
        min_spend_minor: 1000,
        product_kinds: ['merchandise'],
        merchant_ids: null,
        audience: { type: 'public' },
        starts_at_ms: 0,
        ends_at_ms: Date.parse('2026-02-01T00:00:00Z'),
        coupon_ttl_s: null,
        budget_minor: 1000,
        max_redemptions: 10,
        per_user_limit: 1,
        per_merchant_limit: null,
        code_mode: 'claim',
        code: null,
        auto_pause: true,
        velocity: null,
      },
      { actor: null },
    );
    const busy = await full.call('POST', `/v1/campaigns/${c.id}/submit`);
    assertError(busy, 503, 'overloaded');
    assert.equal(busy.headers['retry-after'], '1');
    await assertInvariants(full.store);
  });

  test('unknown routes are 404 not_found; wrong methods too', async () => {
    const h = await httpHarness();
    assertError(await h.call('GET', '/v2/anything', { key: null }), 404, 'not_found');
    assertError(await h.call('GET', '/v1/claims'), 404, 'not_found');
    assertError(await h.call('DELETE', '/v1/campaigns'), 404, 'not_found');
  });
});

describe('requests node:http cannot parse', () => {
  /** Sends raw bytes and reads the whole answer (the server closes the connection after it). */
  async function raw(port: number, bytes: string): Promise<string> {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(bytes);
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    await once(socket, 'close');
    return text;
  }

  test('a malformed request, a smuggling-shaped one and oversized headers get the API error shape, and the server stays up', async () => {
    const h = await httpHarness();
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = h.app.server.address() as AddressInfo;
    try {
      const cases: Array<[string, string, number, RegExp]> = [
        ['a garbage request line', 'NOT HTTP AT ALL\r\n\r\n', 400, /not valid HTTP/],
        [
          'Content-Length with Transfer-Encoding',
          'POST /v1/claims HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
          400,
          /not valid HTTP/,
        ],
        [
          'headers over 16 KiB',
          `GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`,
          431,
          /16 KiB/,
        ],
      ];
      for (const [what, bytes, status, message] of cases) {
        const answer = await raw(port, bytes);
        const [head = '', body = ''] = answer.split('\r\n\r\n');
        assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), what);
        assert.match(head, /\r\nx-content-type-options: nosniff\r\n/i, what);
        assert.match(head, /\r\ncontent-type: application\/json; charset=utf-8\r\n/i, what);
        const parsed = JSON.parse(body) as { error: { code: string; message: string } };
        assert.deepEqual(Object.keys(parsed.error), ['code', 'message'], what);
        assert.equal(parsed.error.code, 'invalid_request', what);
        assert.match(parsed.error.message, message, what);
      }
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(health.status, 200);
    } finally {
      await h.app.close();
    }
  });
});

describe('list cursors', () => {
  test('starting_after must be an id of the list it pages: a stray word or another kind of id is 400 invalid_request', async () => {
    const h = await httpHarness();
    const c = await activeCampaign(h);
    const lists: Array<[string, string]> = [
      ['/v1/campaigns', 'cmp'],
      ['/v1/redemptions', 'rdm'],
      ['/v1/alerts', 'alr'],
      ['/v1/incidents', 'inc'],
      ['/v1/red-envelopes', 'env'],
      ['/v1/webhooks', 'whk'],
      ['/v1/webhooks/whk_none/deliveries', 'evt'],
      ['/v1/api-keys', 'key'],
    ];
    for (const [path, prefix] of lists) {
      const other = prefix === 'cmp' ? 'rdm' : 'cmp';
      for (const cursor of ['garbage', `${other}_01kdvdq4k0qvecs9gsh3000006`, `${prefix}_`, `${prefix}_a b`]) {
        const res = await h.call('GET', `${path}?starting_after=${encodeURIComponent(cursor)}`);
        assertError(res, 400, 'invalid_request', 'starting_after');
        const message = (res.body as { error: { message: string } }).error.message;
        assert.equal(
          message,
          `starting_after: expected the id (${prefix}_...) of the last item of the page before`,
          path,
        );
      }
      const ok = await h.call<{ data: unknown[] }>(
        'GET',
        `${path}?starting_after=${prefix}_01kdvdq4k0qvecs9gsh3000006`,
      );
      assert.ok(ok.status === 200 || (ok.status === 404 && prefix === 'evt'), `${path}: ${ok.status}`);
    }
    // The campaign list still pages with its own ids.
    const page = await h.call<{ data: Array<{ id: string }> }>('GET', `/v1/campaigns?starting_after=${c.id}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.data.every((x) => x.id < c.id));
    assertError(await h.call('GET', '/v1/audit?starting_after=cmp_1'), 400, 'invalid_request', 'starting_after');
    await h.app.close();
  });
});

describe('enum fields', () => {
  test('a value outside a list of choices names every choice, not only the first', async () => {
    const h = await httpHarness();
    const cases: Array<[Method, string, unknown, string, string]> = [
      [
        'GET',
        '/v1/redemptions?status=bogus',
        undefined,
        'status',
        "'reserved', 'confirmed', 'released', 'reversed', 'frozen'",
      ],
      [
        'POST',
        '/v1/api-keys',
        { name: 'x', scopes: ['bogus'] },
        'scopes[0]',
        "'admin', 'approver', 'checkout', 'read'",
      ],
      [
        'GET',
        '/v1/campaigns?status=bogus',
        undefined,
        'status',
        "'draft', 'pending_approval', 'active', 'paused', 'ended', 'revoked'",
      ],
    ];
    for (const [method, url, body, param, choices] of cases) {
      const res = await h.call<{ error: { message: string } }>(method, url, body === undefined ? {} : { body });
      assertError(res, 400, 'invalid_request', param);
      assert.equal(res.body.error.message, `${param}: expected one of ${choices}`, url);
    }
    await h.app.close();
  });
});

describe('ambiguous bodies', () => {
  test('a key named twice in one object is 400 naming it, and changes nothing', async () => {
    const h = await httpHarness();
    const body = JSON.stringify(campaignBody({ budget_minor: 50_000 }));
    const twice = body.replace('"budget_minor":50000', '"budget_minor":50000,"budget_minor":7');
    assert.notEqual(twice, body);
    const res = await h.call('POST', '/v1/campaigns', { raw: twice });
    assertError(res, 400, 'invalid_request', 'budget_minor');
    assert.match((res.body as { error: { message: string } }).error.message, /appears twice/);
    const listed = await h.call<{ data: unknown[] }>('GET', '/v1/campaigns');
    assert.deepEqual(listed.body.data, [], 'nothing created');
    const nested = JSON.stringify({ user_id: 'u1', code: 'X', order: orderBody() }).replace(
      '"merchant_id":',
      '"merchant_id":"m_first","merchant_id":',
    );
    assertError(
      await h.call('POST', '/v1/validations', { key: 'checkout', raw: nested }),
      400,
      'invalid_request',
      'order.merchant_id',
    );
    assert.equal(
      (await h.call('POST', '/v1/campaigns', { raw: body })).status,
      201,
      'the same body without the repeat is taken',
    );
    await h.app.close();
  });
});

describe('bodies that are not JSON', () => {
  test('a text/plain body is refused as any non-JSON body is (send JSON), even JSON text, and changes nothing', async () => {
    const h = await httpHarness();
    const sendJson = (res: Awaited<ReturnType<typeof h.call>>, what: string) => {
      assertError(res, 400, 'invalid_request');
      assert.equal(
        (res.body as { error: { message: string } }).error.message,
        'send JSON with Content-Type: application/json',
        what,
      );
    };
    // fetch() with a string body and no headers sends text/plain;charset=UTF-8.
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/xml']) {
      const headers = { 'content-type': type };
      sendJson(await h.call('POST', '/v1/campaigns', { raw: JSON.stringify(campaignBody()), headers }), type);
      // A route that takes no body (revoke) must not act on one it cannot read either.
      sendJson(await h.call('POST', `/v1/api-keys/${h.keys.read.id}/revoke`, { raw: 'revoke it', headers }), type);
    }
    const listed = await h.call<{ data: unknown[] }>('GET', '/v1/campaigns');
    assert.deepEqual(listed.body.data, [], 'nothing created');
    assert.equal((await h.call('GET', '/v1/campaigns', { key: 'read' })).status, 200, 'the read key is not revoked');
    await h.app.close();
  });
});
