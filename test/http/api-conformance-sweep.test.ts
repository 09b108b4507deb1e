import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CampaignWire, CouponWire, RedemptionWire } from '../../src/http/views.ts';
import {
  type Answer,
  activeCampaign,
  assertError,
  assertInvariants,
  type CallOptions,
  campaignBody,
  claim,
  day_ms,
  type HttpHarness,
  httpHarness,
  iso,
  type KeyName,
  type ListWire,
  type Method,
  orderBody,
} from './harness.ts';

/**
 * API.md, endpoint by endpoint, as a checker outside the project would test it over HTTP: lists,
 * ids, scopes, the 1-128 rule, money, times, Idempotency-Key, content types and the body limit.
 */

/** A public address literal: the webhook is stored without resolving a name or reaching anyone. */
const hook_url = 'https://93.184.216.34/hook';

interface World {
  h: HttpHarness;
  /** h.call, with every answer checked against API.md's conventions (see conforming). */
  call: HttpHarness['call'];
  campaign: CampaignWire;
  coupon: CouponWire;
  redemption: RedemptionWire;
  envelope_id: string;
  webhook_id: string;
  incident_id: string;
}

const rfc3339Utc = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

/** Every time in an answer (`at`, `..._at`, an incident scope's `from` and `to`) is RFC 3339 in UTC. */
function assertTimes(value: unknown, where: string): void {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) assertTimes(v, `${where}[${i}]`);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    const timeField = k === 'at' || k.endsWith('_at') || (where.endsWith('.scope') && (k === 'from' || k === 'to'));
    if (timeField && v !== null) {
      assert.ok(typeof v === 'string' && rfc3339Utc.test(v), `${where}.${k}: ${JSON.stringify(v)}`);
      assert.equal(new Date(Date.parse(v)).toISOString().replace('.000Z', 'Z'), v.replace('.000Z', 'Z'));
    }
    assertTimes(v, `${where}.${k}`);
  }
}

/** Every answer is JSON (Content-Type: application/json), an error has the API.md shape, times are UTC. */
function conforming(h: HttpHarness): HttpHarness['call'] {
  return async <T>(method: Method, url: string, opts: CallOptions = {}): Promise<Answer<T>> => {
    const res = await h.call<T>(method, url, opts);
    const what = `${method} ${url} -> ${res.status}`;
    assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/, what);
    if (res.status >= 400) {
      const code = (res.body as { error?: { code?: unknown } }).error?.code;
      assertError(res, res.status, String(code));
    } else assertTimes(res.body, what);
    return res;
  };
}

/** One of everything API.md names, each made through the API. */
async function world(): Promise<World> {
  // Every operation is tried without a key: more failed authentications than one address may make.
  const h = await httpHarness({}, { hardening: { auth_failures_max: 1_000 } });
  const call = conforming(h);
  const campaign = await activeCampaign(h, { per_user_limit: null });
  const coupon = await claim(h, campaign.id, 'u1');
  const redeemed = await call<RedemptionWire>('POST', '/v1/redemptions', {
    key: 'checkout',
    body: { user_id: 'u1', coupon_id: coupon.id, order: orderBody() },
  });
  assert.equal(redeemed.status, 201, JSON.stringify(redeemed.body));
  const envelope = await call<{ id: string }>('POST', '/v1/red-envelopes', {
    body: { currency: 'CNY', total_minor: 1000, count: 10, expires_at: iso(h.clock.now() + day_ms) },
  });
  assert.equal(envelope.status, 201, JSON.stringify(envelope.body));
  const webhook = await call<{ id: string }>('POST', '/v1/webhooks', {
    body: { url: hook_url, events: ['campaign.paused'] },
  });
  assert.equal(webhook.status, 201, JSON.stringify(webhook.body));
  const other = await activeCampaign(h, { name: 'incident target' });
  const incident = await call<{ id: string }>('POST', '/v1/incidents', {
    body: { title: 'sweep', scope: { campaign_ids: [other.id] }, actions: ['pause_campaigns'] },
  });
  assert.equal(incident.status, 201, JSON.stringify(incident.body));
  return {
    h,
    call,
    campaign,
    coupon,
    redemption: redeemed.body,
    envelope_id: envelope.body.id,
    webhook_id: webhook.body.id,
    incident_id: incident.body.id,
  };
}

/** Every list endpoint, with the filters API.md names. */
function lists(w: World): string[] {
  return [
    '/v1/campaigns',
    '/v1/campaigns?status=active',
    '/v1/redemptions',
    `/v1/redemptions?campaign_id=${w.campaign.id}`,
    '/v1/redemptions?merchant_id=m1',
    '/v1/redemptions?status=reserved',
    '/v1/alerts',
    `/v1/alerts?campaign_id=${w.campaign.id}`,
    '/v1/incidents',
    '/v1/audit',
    '/v1/api-keys',
    '/v1/webhooks',
    `/v1/webhooks/${w.webhook_id}/deliveries`,
    '/v1/red-envelopes',
  ];
}

function withQuery(path: string, query: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}${query}`;
}

describe('lists', () => {
  test('limit is an integer 1-100 written plainly: anything else is 400 invalid_request naming limit', async () => {
    const w = await world();
    for (const path of lists(w)) {
      for (const limit of ['0', '101', '-1', '1.5', 'abc', '', '1e1', '01', '+5', '0x10', ' 5', '5&limit=6']) {
        assertError(await w.call('GET', withQuery(path, `limit=${limit}`)), 400, 'invalid_request', 'limit');
      }
      for (const limit of ['1', '100']) {
        const res = await w.call<ListWire<unknown>>('GET', withQuery(path, `limit=${limit}`));
        assert.equal(res.status, 200, `${path} limit=${limit}: ${JSON.stringify(res.body)}`);
        assert.deepEqual(Object.keys(res.body).sort(), ['data', 'has_more'], path);
      }
    }
    await w.h.app.close();
  });

  test('a parameter a list does not take is 400 naming it, not a list that quietly ignores it', async () => {
    const w = await world();
    for (const path of lists(w)) {
      const res = await w.call('GET', withQuery(path, 'limt=5'));
      assertError(res, 400, 'invalid_request', 'limt');
    }
    // A misspelt filter would otherwise answer every redemption, of every campaign.
    const res = await w.call('GET', `/v1/redemptions?campaign=${w.campaign.id}&status=reserved`);
    assertError(res, 400, 'invalid_request', 'campaign');
    assertError(await w.call('GET', '/v1/redemptions?user_id=u1'), 400, 'invalid_request', 'user_id');
    await w.h.app.close();
  });

  test('default 20, newest first, has_more exact at every boundary, starting_after walks every item once', async () => {
    const h = await httpHarness();
    const call = conforming(h);
    const c = await activeCampaign(h, { per_user_limit: null, max_redemptions: null, budget_minor: 1_000_000 });
    for (let i = 0; i < 21; i++) {
      const coupon = await claim(h, c.id, `u${i}`);
      const body = { user_id: `u${i}`, coupon_id: coupon.id, order: orderBody() };
      assert.equal((await call('POST', '/v1/redemptions', { key: 'checkout', body })).status, 201);
    }
    for (let i = 0; i < 3; i++) {
      const body = { currency: 'CNY', total_minor: 100, count: 1, expires_at: iso(h.clock.now() + day_ms) };
      assert.equal((await call('POST', '/v1/red-envelopes', { body })).status, 201);
      const hook = { url: `${hook_url}/${i}`, events: ['campaign.paused'] };
      assert.equal((await call('POST', '/v1/webhooks', { body: hook })).status, 201);
      const incident = { title: `i${i}`, scope: { merchant_ids: [`elsewhere${i}`] }, actions: ['freeze_redemptions'] };
      assert.equal((await call('POST', '/v1/incidents', { body: incident })).status, 201);
      const key = { name: `k${i}`, scopes: ['read'] };
      assert.equal((await call('POST', '/v1/api-keys', { body: key })).status, 201);
    }
    const paths = [
      '/v1/campaigns',
      '/v1/redemptions',
      `/v1/redemptions?campaign_id=${c.id}`,
      '/v1/redemptions?merchant_id=m1',
      '/v1/redemptions?status=reserved',
      '/v1/incidents',
      '/v1/audit',
      '/v1/api-keys',
      '/v1/webhooks',
      '/v1/red-envelopes',
    ];
    type Item = { id?: string; seq?: number; created_at?: string; at?: string };
    const cursorOf = (x: Item) => x.id ?? String(x.seq);
    for (const path of paths) {
      const all = await call<ListWire<Item>>('GET', withQuery(path, 'limit=100'));
      assert.equal(all.status, 200, path);
      assert.equal(all.body.has_more, false, path);
      const items = all.body.data;
      const n = items.length;
      assert.ok(n >= 3, `${path}: ${n} items`);
      for (let i = 1; i < n; i++) {
        const [prev, cur] = [items[i - 1] as Item, items[i] as Item];
        assert.ok((cur.created_at ?? cur.at ?? '') <= (prev.created_at ?? prev.at ?? ''), `${path}: newest first`);
      }
      const first = await call<ListWire<Item>>('GET', path);
      assert.equal(first.body.data.length, Math.min(n, 20), `${path}: default 20`);
      assert.equal(first.body.has_more, n > 20, path);
      const exact = await call<ListWire<Item>>('GET', withQuery(path, `limit=${n}`));
      assert.deepEqual([exact.body.data.length, exact.body.has_more], [n, false], `${path}: exactly limit left`);
      const less = await call<ListWire<Item>>('GET', withQuery(path, `limit=${n - 1}`));
      assert.deepEqual([less.body.data.length, less.body.has_more], [n - 1, true], `${path}: one more than limit`);
      const cursors = items.map(cursorOf);
      const lastOne = await call<ListWire<Item>>('GET', withQuery(path, `limit=1&starting_after=${cursors[n - 2]}`));
      assert.deepEqual([lastOne.body.data.map(cursorOf), lastOne.body.has_more], [[cursors[n - 1]], false], path);
      const beyond = await call<ListWire<Item>>('GET', withQuery(path, `starting_after=${cursors[n - 1]}`));
      assert.deepEqual([beyond.body.data, beyond.body.has_more], [[], false], path);
      const walked: string[] = [];
      let after: string | undefined;
      for (let more = true; more; ) {
        const page = await call<ListWire<Item>>(
          'GET',
          withQuery(path, `limit=7${after === undefined ? '' : `&starting_after=${after}`}`),
        );
        walked.push(...page.body.data.map(cursorOf));
        more = page.body.has_more;
        after = walked.at(-1);
      }
      assert.deepEqual(walked, cursors, `${path}: pages of 7`);
    }
    await assertInvariants(h.store);
    await h.app.close();
  });
});

/** Every route with an id in its path, with the key that may call it and a body it takes. */
const idRoutes: Array<{ method: Method; path: string; prefix: string; key: KeyName; body?: unknown }> = [
  { method: 'GET', path: '/v1/campaigns/{id}', prefix: 'cmp', key: 'read' },
  { method: 'GET', path: '/v1/campaigns/{id}/exposure', prefix: 'cmp', key: 'read' },
  { method: 'POST', path: '/v1/campaigns/{id}', prefix: 'cmp', key: 'admin', body: { name: 'x' } },
  { method: 'POST', path: '/v1/campaigns/{id}/submit', prefix: 'cmp', key: 'admin' },
  { method: 'POST', path: '/v1/campaigns/{id}/approve', prefix: 'cmp', key: 'approver' },
  { method: 'POST', path: '/v1/campaigns/{id}/pause', prefix: 'cmp', key: 'admin', body: { reason: 'r' } },
  { method: 'POST', path: '/v1/campaigns/{id}/resume', prefix: 'cmp', key: 'admin' },
  { method: 'POST', path: '/v1/campaigns/{id}/revoke', prefix: 'cmp', key: 'admin' },
  { method: 'POST', path: '/v1/campaigns/{id}/codes', prefix: 'cmp', key: 'admin', body: { count: 1 } },
  { method: 'GET', path: '/v1/redemptions/{id}', prefix: 'rdm', key: 'read' },
  { method: 'POST', path: '/v1/redemptions/{id}/confirm', prefix: 'rdm', key: 'checkout' },
  { method: 'POST', path: '/v1/redemptions/{id}/release', prefix: 'rdm', key: 'checkout' },
  { method: 'POST', path: '/v1/redemptions/{id}/reverse', prefix: 'rdm', key: 'checkout' },
  { method: 'GET', path: '/v1/red-envelopes/{id}', prefix: 'env', key: 'read' },
  { method: 'POST', path: '/v1/red-envelopes/{id}/grab', prefix: 'env', key: 'checkout', body: { user_id: 'g' } },
  { method: 'GET', path: '/v1/incidents/{id}', prefix: 'inc', key: 'read' },
  {
    method: 'POST',
    path: '/v1/incidents/{id}/resolve',
    prefix: 'inc',
    key: 'admin',
    body: { resolution: 'honour' },
  },
  { method: 'POST', path: '/v1/api-keys/{id}/revoke', prefix: 'key', key: 'admin' },
  { method: 'POST', path: '/v1/api-keys/{id}/rotate', prefix: 'key', key: 'admin' },
  { method: 'GET', path: '/v1/webhooks/{id}', prefix: 'whk', key: 'read' },
  { method: 'GET', path: '/v1/webhooks/{id}/deliveries', prefix: 'whk', key: 'read' },
  { method: 'DELETE', path: '/v1/webhooks/{id}', prefix: 'whk', key: 'admin' },
];

describe('ids in paths', () => {
  test('an unknown id, an id of another kind and a stray word are 404 not_found on every route', async () => {
    const w = await world();
    const real: Record<string, string> = {
      cmp: w.campaign.id,
      rdm: w.redemption.id,
      env: w.envelope_id,
      inc: w.incident_id,
      whk: w.webhook_id,
      key: w.h.keys.read.id,
    };
    for (const r of idRoutes) {
      const mine = real[r.prefix] ?? '';
      const ids = [
        `${r.prefix}_01kdvdq4k00000000000000000`,
        `${r.prefix}_zz`,
        'nope',
        r.prefix === 'cmp' ? w.redemption.id : w.campaign.id,
        `cpn_${mine.slice(4)}`,
        'x'.repeat(128),
      ];
      for (const id of ids) {
        const res = await w.call(r.method, r.path.replace('{id}', encodeURIComponent(id)), {
          key: r.key,
          ...(r.body !== undefined ? { body: r.body } : {}),
        });
        assertError(res, 404, 'not_found');
      }
    }
    await w.h.app.close();
  });
});

type Operation = { method: Method; path: string };

/** Every /v1 operation the served OpenAPI document lists (its contract as the server states it). */
async function operations(w: World): Promise<Operation[]> {
  const doc = await w.h.call<{ paths: Record<string, Record<string, unknown>> }>('GET', '/openapi.json', { key: null });
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.body.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const method of Object.keys(item)) out.push({ method: method.toUpperCase() as Method, path });
  }
  assert.ok(out.length >= 40, `${out.length} operations`);
  return out;
}

/** The path with a real id of the kind its route takes. */
function concrete(w: World, path: string): string {
  const kind = path.split('/')[2];
  const ids: Record<string, string> = {
    campaigns: w.campaign.id,
    redemptions: w.redemption.id,
    'red-envelopes': w.envelope_id,
    incidents: w.incident_id,
    webhooks: w.webhook_id,
    'api-keys': w.h.keys.admin2.id,
  };
  return path.replace('{id}', ids[kind ?? ''] ?? 'none');
}

describe('scopes', () => {
  test('on every operation: no key or an unknown key is 401; a key without the scope is 403', async () => {
    const w = await world();
    for (const op of await operations(w)) {
      const url = concrete(w, op.path);
      const label = `${op.method} ${op.path}`;
      assertError(await w.call(op.method, url, { key: null }), 401, 'unauthenticated');
      const unknown = { key: null, headers: { authorization: 'Bearer vs_unknownunknownunknownunknown' } };
      assertError(await w.call(op.method, url, unknown), 401, 'unauthenticated');
      const self = op.path === '/v1/api-keys/current';
      // read: every GET (the key list, with every key's name and scopes, is admin's).
      const readMay = op.method === 'GET' && op.path !== '/v1/api-keys';
      const checkoutMay =
        /^\/v1\/(claims|validations|redemptions(\/\{id\}\/(confirm|release|reverse))?|red-envelopes\/\{id\}\/grab)$/;
      const allowed: Record<'read' | 'checkout' | 'approver', boolean> = {
        read: readMay || self,
        checkout: (op.method === 'POST' && checkoutMay.test(op.path)) || self,
        approver: op.path === '/v1/campaigns/{id}/approve' || self,
      };
      for (const key of ['read', 'checkout', 'approver'] as const) {
        if (allowed[key]) continue;
        const res = await w.call(op.method, url, { key, ...(op.method === 'POST' ? { body: {} } : {}) });
        assert.equal(res.status, 403, `${key} ${label}: ${JSON.stringify(res.body)}`);
        assertError(res, 403, 'forbidden');
      }
    }
    await w.h.app.close();
  });
});

describe('request bodies', () => {
  test('over 1 MiB is 413 payload_too_large on every POST, and nothing changes', async () => {
    const w = await world();
    const audit = await w.call<ListWire<unknown>>('GET', '/v1/audit?limit=1');
    const body = JSON.stringify({ name: 'x'.repeat(1024 * 1024) });
    for (const op of await operations(w)) {
      if (op.method !== 'POST') continue;
      const res = await w.call('POST', concrete(w, op.path), { raw: body });
      assertError(res, 413, 'payload_too_large');
    }
    assert.deepEqual((await w.call('GET', '/v1/audit?limit=1')).body, audit.body);
    await w.h.app.close();
  });
});

/** Sets the field at a dotted path (`order.amount_minor`, `audience.user_ids.0`) in a body. */
function withField(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) at = at[p] as Record<string, unknown>;
  at[parts.at(-1) ?? ''] = value;
  return copy;
}

/** API.md's param for a body path: `audience.user_ids.0` -> `audience.user_ids[0]`. */
function paramOf(path: string): string {
  return path.replace(/\.(\d+)/g, '[$1]');
}

type Field = { url: string; key: KeyName; field: string; body: () => Record<string, unknown> };

/** Every field that names something (API.md: 1-128 characters), on every endpoint that takes one. */
function nameFields(w: World): Field[] {
  const redeem = () => ({ user_id: 'u1', code: w.coupon.code, order: orderBody(), device_id: 'd1' });
  const checkout = (url: string, field: string, body: () => Record<string, unknown>): Field => ({
    url,
    key: 'checkout',
    field,
    body,
  });
  const admin = (field: string, body: Record<string, unknown>): Field => ({
    url: '/v1/campaigns',
    key: 'admin',
    field,
    body: () => body,
  });
  return [
    checkout('/v1/claims', 'user_id', () => ({ campaign_id: w.campaign.id, user_id: 'u1' })),
    ...['user_id', 'code', 'order.id', 'order.merchant_id'].map((f) => checkout('/v1/validations', f, redeem)),
    ...['user_id', 'code', 'device_id', 'order.id', 'order.merchant_id'].map((f) =>
      checkout('/v1/redemptions', f, redeem),
    ),
    checkout(`/v1/red-envelopes/${w.envelope_id}/grab`, 'user_id', () => ({ user_id: 'g1' })),
    admin('code', campaignBody({ code_mode: 'shared_code', code: 'SPRING' })),
    admin('audience.user_ids.0', campaignBody({ audience: { type: 'allowlist', user_ids: ['u1'] } })),
    admin('merchant_ids.0', campaignBody({ merchant_ids: ['m1'] })),
    {
      url: '/v1/incidents',
      key: 'admin',
      field: 'scope.merchant_ids.0',
      body: () => ({ title: 't', scope: { merchant_ids: ['m1'] }, actions: ['freeze_redemptions'] }),
    },
  ];
}

describe('names and money', () => {
  test('every name is 1-128 characters (code points) and a string: otherwise 400 naming the field', async () => {
    const w = await world();
    const bad: unknown[] = ['', 'x'.repeat(129), '😀'.repeat(129), 7, null, ['u1'], { id: 'u1' }, true];
    for (const f of nameFields(w)) {
      // An optional device_id may be null (none sent); nothing else may.
      for (const value of bad.filter((v) => v !== null || f.field !== 'device_id')) {
        const res = await w.call('POST', f.url, { key: f.key, body: withField(f.body(), f.field, value) });
        assertError(res, 400, 'invalid_request', paramOf(f.field));
      }
      for (const value of ['x'.repeat(128), '😀'.repeat(128)]) {
        const res = await w.call('POST', f.url, { key: f.key, body: withField(f.body(), f.field, value) });
        assert.notEqual(res.status, 400, `${f.url} ${f.field}: ${JSON.stringify(res.body)}`);
      }
    }
    await assertInvariants(w.h.store);
    await w.h.app.close();
  });

  test('money that is not a safe non-negative integer is 400 naming the field, nested ones by their path', async () => {
    const w = await world();
    const envelope = { currency: 'CNY', total_minor: 1000, count: 10, expires_at: iso(w.h.clock.now() + day_ms) };
    const fields: Field[] = [
      ...['/v1/validations', '/v1/redemptions'].map((url) => ({
        url,
        key: 'checkout' as const,
        field: 'order.amount_minor',
        body: () => ({ user_id: 'u1', code: w.coupon.code, order: orderBody() }),
      })),
      ...['budget_minor', 'min_spend_minor', 'discount.amount_minor'].flatMap((field) =>
        ['/v1/campaigns', '/v1/campaigns/lint'].map((url) => ({
          url,
          key: 'admin' as const,
          field,
          body: () => campaignBody(),
        })),
      ),
      {
        url: '/v1/campaigns',
        key: 'admin',
        field: 'discount.max_discount_minor',
        body: () => campaignBody({ discount: { type: 'percent', percent_bp: 1000, max_discount_minor: 500 } }),
      },
      {
        url: '/v1/campaigns',
        key: 'admin',
        field: 'discount.tiers.0.amount_minor',
        body: () =>
          campaignBody({ discount: { type: 'tiered', tiers: [{ min_spend_minor: 5000, amount_minor: 500 }] } }),
      },
      { url: `/v1/campaigns/${w.campaign.id}`, key: 'admin', field: 'budget_minor', body: () => ({ budget_minor: 1 }) },
      ...['total_minor', 'min_amount_minor', 'coupon.min_spend_minor'].map((field) => ({
        url: '/v1/red-envelopes',
        key: 'admin' as const,
        field,
        body: () => ({ ...envelope, min_amount_minor: 1, coupon: { min_spend_minor: 0 } }),
      })),
    ];
    const marker = 987_654_321;
    const spellings = ['1.5', '1.0', '1e3', '-1', String(2 ** 53), '"100"', 'null', 'true'];
    for (const f of fields) {
      // A null cap is an uncapped percentage (API.md's percent discount); every other null is refused.
      for (const spelling of spellings.filter((x) => x !== 'null' || !f.field.endsWith('max_discount_minor'))) {
        const raw = JSON.stringify(withField(f.body(), f.field, marker)).replace(String(marker), spelling);
        const res = await w.call('POST', f.url, { key: f.key, raw });
        assertError(res, 400, 'invalid_request', paramOf(f.field));
      }
    }
    await assertInvariants(w.h.store);
    await w.h.app.close();
  });
});

describe('Idempotency-Key', () => {
  test('every POST replays its first answer under the same key and body; another body is 409', async () => {
    const w = await world();
    const { h, call } = w;
    const made = async (url: string, body: unknown, key: KeyName = 'admin') => {
      const res = await call<{ id: string }>('POST', url, { key, body });
      assert.ok(res.status === 200 || res.status === 201, `${url}: ${JSON.stringify(res.body)}`);
      return res.body.id;
    };
    const draft = await made('/v1/campaigns', campaignBody({ name: 'draft' }));
    const big = await made(
      '/v1/campaigns',
      campaignBody({ name: 'big', budget_minor: 5_000_000, max_redemptions: 10_000 }),
    );
    await made(`/v1/campaigns/${big}/submit`, undefined);
    const codes = (await activeCampaign(h, { name: 'codes', code_mode: 'unique_codes' })).id;
    const coupons = await Promise.all(['r1', 'r2', 'r3'].map((u) => claim(h, w.campaign.id, u)));
    const held = await Promise.all(
      coupons.map((c, i) =>
        made(
          '/v1/redemptions',
          { user_id: c.user_id, coupon_id: c.id, order: orderBody(), confirm: i === 2 },
          'checkout',
        ),
      ),
    );
    const revoked = await made('/v1/api-keys', { name: 'to revoke', scopes: ['read'] });
    const rotated = await made('/v1/api-keys', { name: 'to rotate', scopes: ['read'] });
    const envelope = (ttl: number) => ({
      currency: 'CNY',
      total_minor: 100,
      count: 1,
      expires_at: iso(h.clock.now() + ttl),
    });
    const incident = (title: string) => ({ title, scope: { merchant_ids: ['mx'] }, actions: ['freeze_redemptions'] });
    const order = orderBody({ id: 'validated' });
    // [path as OpenAPI names it, url, key, body, another body]; an empty body and none are one request.
    const cases: Array<[string, string, KeyName, unknown, unknown]> = [
      ['/v1/campaigns', '/v1/campaigns', 'admin', campaignBody({ name: 'a' }), campaignBody({ name: 'b' })],
      ['/v1/campaigns/lint', '/v1/campaigns/lint', 'admin', campaignBody(), campaignBody({ name: 'b' })],
      ['/v1/campaigns/{id}', `/v1/campaigns/${draft}`, 'admin', { name: 'renamed' }, { name: 'other' }],
      ['/v1/campaigns/{id}/submit', `/v1/campaigns/${draft}/submit`, 'admin', undefined, { bogus: 1 }],
      ['/v1/campaigns/{id}/approve', `/v1/campaigns/${big}/approve`, 'approver', undefined, { bogus: 1 }],
      ['/v1/campaigns/{id}/pause', `/v1/campaigns/${w.campaign.id}/pause`, 'admin', { reason: 'a' }, { reason: 'b' }],
      ['/v1/campaigns/{id}/resume', `/v1/campaigns/${w.campaign.id}/resume`, 'admin', {}, { bogus: 1 }],
      ['/v1/campaigns/{id}/codes', `/v1/campaigns/${codes}/codes`, 'admin', { count: 2 }, { count: 3 }],
      [
        '/v1/claims',
        '/v1/claims',
        'checkout',
        { campaign_id: w.campaign.id, user_id: 'i1' },
        { campaign_id: w.campaign.id, user_id: 'i2' },
      ],
      [
        '/v1/validations',
        '/v1/validations',
        'checkout',
        { user_id: 'r1', coupon_id: coupons[0]?.id, order },
        { user_id: 'r1', code: 'NOPE', order },
      ],
      [
        '/v1/redemptions',
        '/v1/redemptions',
        'checkout',
        { user_id: 'u9', code: 'NOPE', order },
        { user_id: 'u8', code: 'NOPE', order },
      ],
      ['/v1/redemptions/{id}/confirm', `/v1/redemptions/${held[0]}/confirm`, 'checkout', undefined, { bogus: 1 }],
      ['/v1/redemptions/{id}/release', `/v1/redemptions/${held[1]}/release`, 'checkout', {}, { bogus: 1 }],
      ['/v1/redemptions/{id}/reverse', `/v1/redemptions/${held[2]}/reverse`, 'checkout', { restore_coupon: true }, {}],
      ['/v1/red-envelopes', '/v1/red-envelopes', 'admin', envelope(day_ms), envelope(2 * day_ms)],
      [
        '/v1/red-envelopes/{id}/grab',
        `/v1/red-envelopes/${w.envelope_id}/grab`,
        'checkout',
        { user_id: 'g1' },
        { user_id: 'g2' },
      ],
      ['/v1/api-keys', '/v1/api-keys', 'admin', { name: 'a', scopes: ['read'] }, { name: 'b', scopes: ['read'] }],
      ['/v1/api-keys/{id}/revoke', `/v1/api-keys/${revoked}/revoke`, 'admin', undefined, { bogus: 1 }],
      ['/v1/api-keys/{id}/rotate', `/v1/api-keys/${rotated}/rotate`, 'admin', undefined, { bogus: 1 }],
      ['/v1/incidents', '/v1/incidents', 'admin', incident('a'), incident('b')],
      [
        '/v1/incidents/{id}/resolve',
        `/v1/incidents/${w.incident_id}/resolve`,
        'admin',
        { resolution: 'honour' },
        { resolution: 'reverse' },
      ],
      [
        '/v1/webhooks',
        '/v1/webhooks',
        'admin',
        { url: `${hook_url}/a`, events: ['alert.raised'] },
        { url: `${hook_url}/b`, events: ['alert.raised'] },
      ],
      ['/v1/campaigns/{id}/revoke', `/v1/campaigns/${w.campaign.id}/revoke`, 'admin', undefined, { bogus: 1 }],
      ['/v1/emergency-stop', '/v1/emergency-stop', 'admin', { reason: 'a' }, { reason: 'b' }],
    ];
    const posts = (await operations(w)).filter((op) => op.method === 'POST').map((op) => op.path);
    assert.deepEqual(cases.map((c) => c[0]).sort(), posts.sort(), 'every POST is tried');
    for (const [path, url, key, body, other] of cases) {
      const idem = `sweep:${path}`;
      const opts = { key, idem, ...(body === undefined ? {} : { body }) };
      const first = await call('POST', url, opts);
      assert.ok(first.status < 300 || path === '/v1/redemptions', `${path}: ${JSON.stringify(first.body)}`);
      const again = await call('POST', url, opts);
      assert.deepEqual([again.status, again.body], [first.status, first.body], `${path}: replayed`);
      const bare = await call('POST', url, { key, idem, body: body ?? {} });
      assert.deepEqual([bare.status, bare.body], [first.status, first.body], `${path}: {} is no body`);
      const reused = await call('POST', url, { key, idem, body: other });
      // A body its route refuses (a field no-body routes do not take) is 400 before any key is looked at.
      if (reused.status === 400) assertError(reused, 400, 'invalid_request', 'bogus');
      else assertError(reused, 409, 'idempotency_key_reused', 'Idempotency-Key');
      const elsewhere = await call('POST', '/v1/claims', {
        key,
        idem,
        body: { campaign_id: w.campaign.id, user_id: 'elsewhere' },
      });
      if (elsewhere.status !== 403) assertError(elsewhere, 409, 'idempotency_key_reused', 'Idempotency-Key');
    }
    await assertInvariants(h.store);
    await h.app.close();
  });
});
