import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyChain } from '../../src/engine/audit.ts';
import { assertError, type ListWire } from '../http/harness.ts';
import { eventsHarness } from './support.ts';

type WebhookWire = { id: string; url: string; events: string[]; created_at: string; secret?: string };

test('POST /v1/webhooks answers the secret once; list and get never show it; DELETE removes', async () => {
  const h = await eventsHarness();
  try {
    const created = await h.call<WebhookWire>('POST', '/v1/webhooks', {
      url: 'http://127.0.0.1:9/hook',
      events: ['campaign.paused', 'redemption.confirmed'],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const w = created.body;
    assert.match(w.id, /^whk_/);
    assert.match(w.secret ?? '', /^whsec_[A-Za-z0-9_-]{32}$/);
    assert.deepEqual(w.events, ['campaign.paused', 'redemption.confirmed']);
    assert.equal(w.created_at, '2026-01-01T00:01:00Z');
    const list = await h.call<ListWire<WebhookWire>>('GET', '/v1/webhooks');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, {
      data: [{ id: w.id, url: w.url, events: w.events, created_at: w.created_at }],
      has_more: false,
    });
    const one = await h.call<WebhookWire>('GET', `/v1/webhooks/${w.id}`);
    assert.equal(one.body.secret, undefined);
    const del = await h.call('DELETE', `/v1/webhooks/${w.id}`);
    assert.deepEqual([del.status, del.body], [200, { id: w.id, deleted: true }]);
    assertError(await h.call('DELETE', `/v1/webhooks/${w.id}`), 404, 'not_found');
    assertError(await h.call('GET', `/v1/webhooks/${w.id}`), 404, 'not_found');
    assertError(await h.call('GET', `/v1/webhooks/${w.id}/deliveries`), 404, 'not_found');
    assert.deepEqual((await h.call<ListWire<WebhookWire>>('GET', '/v1/webhooks')).body.data, []);
    const chain = await h.store.auditChain('platform');
    const actions = chain.map((e) => e.action).filter((a) => a.startsWith('webhook.'));
    assert.deepEqual(actions, ['webhook.created', 'webhook.deleted']);
    assert.ok(!chain.some((e) => e.data_json.includes(w.secret ?? 'none')), 'the secret is never audited');
    assert.equal(verifyChain(chain).ok, true);
  } finally {
    await h.close();
  }
});

test('only admin creates and deletes webhooks; read reads them, never the secret', async () => {
  const h = await eventsHarness();
  try {
    const body = { url: 'http://127.0.0.1:9/hook', events: ['campaign.paused'] };
    assertError(await h.call('POST', '/v1/webhooks', body, 'read'), 403, 'forbidden');
    const created = await h.call<WebhookWire>('POST', '/v1/webhooks', body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { secret, ...view } = created.body;
    assert.ok(secret);
    const list = await h.call<ListWire<WebhookWire>>('GET', '/v1/webhooks', undefined, 'read');
    assert.deepEqual([list.status, list.body], [200, { data: [view], has_more: false }]);
    const one = await h.call<WebhookWire>('GET', `/v1/webhooks/${view.id}`, undefined, 'read');
    assert.deepEqual([one.status, one.body], [200, view]);
    const deliveries = await h.call('GET', `/v1/webhooks/${view.id}/deliveries`, undefined, 'read');
    assert.deepEqual([deliveries.status, deliveries.body], [200, { data: [], has_more: false }]);
    for (const res of [list, one, deliveries]) assert.ok(!JSON.stringify(res.body).includes(secret));
    assertError(await h.call('DELETE', `/v1/webhooks/${view.id}`, undefined, 'read'), 403, 'forbidden');
    assert.equal((await h.store.liveWebhooks()).length, 1);
  } finally {
    await h.close();
  }
});

test('webhook input is checked', async () => {
  const h = await eventsHarness();
  try {
    const body = { url: 'http://127.0.0.1:9/hook', events: ['campaign.paused'] };
    assertError(
      await h.call('POST', '/v1/webhooks', { ...body, events: ['campaign.exploded'] }),
      400,
      'invalid_request',
    );
    assertError(await h.call('POST', '/v1/webhooks', { ...body, events: [] }), 400, 'invalid_request', 'events');
    assertError(
      await h.call('POST', '/v1/webhooks', { url: 'ftp://127.0.0.1/x', events: ['campaign.paused'] }),
      400,
      'invalid_request',
      'url',
    );
    assertError(await h.call('POST', '/v1/webhooks', { ...body, url: 'not a url' }), 400, 'invalid_request', 'url');
    assertError(
      await h.call('POST', '/v1/webhooks', { ...body, url: 'http://u:p@127.0.0.1/' }),
      400,
      'invalid_request',
      'url',
    );
    assertError(await h.call('POST', '/v1/webhooks', { ...body, extra: 1 }), 400, 'invalid_request');
    assert.deepEqual(await h.store.liveWebhooks(), []);
  } finally {
    await h.close();
  }
});

test('without VOUCHSAFE_WEBHOOK_ALLOW_PRIVATE, loopback and private addresses are refused and nothing is stored', async () => {
  const h = await eventsHarness({ allow_private: false });
  try {
    const before = (await h.store.auditChain('platform')).length;
    for (const url of [
      'http://127.0.0.1/hook',
      'http://127.1.2.3:8080/hook',
      'http://10.0.0.1/hook',
      'http://172.16.5.4/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://0.0.0.0/hook',
      'http://localhost:8080/hook',
      'http://[::1]/hook',
      'http://[fd00::1]/hook',
      'http://[fe80::1]/hook',
      'http://[::ffff:127.0.0.1]/hook',
      'http://2130706433/hook',
      // IPv4 inside IPv6: IPv4-compatible, NAT64 (RFC 6052), 6to4; and the old site-local range
      'http://[::127.0.0.1]/hook',
      'http://[64:ff9b::7f00:1]/hook',
      'http://[64:ff9b::10.1.2.3]/hook',
      'http://[::ffff:0:7f00:1]/hook',
      'http://[2002:c0a8:101::1]/hook',
      'http://[fec0::1]/hook',
    ]) {
      const res = await h.call('POST', '/v1/webhooks', { url, events: ['campaign.paused'] });
      assertError(res, 400, 'invalid_request', 'url');
    }
    assert.deepEqual(await h.store.liveWebhooks(), []);
    assert.equal((await h.store.auditChain('platform')).length, before);
    // A public address literal passes the check (TEST-NET-1; nothing is ever sent: no dispatcher runs here).
    const ok = await h.call('POST', '/v1/webhooks', { url: 'https://192.0.2.10/hook', events: ['campaign.paused'] });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    // NAT64 of a public IPv4 address is how an IPv6-only network reaches it: allowed.
    const nat64 = await h.call('POST', '/v1/webhooks', {
      url: 'https://[64:ff9b::c000:20a]/hook',
      events: ['campaign.paused'],
    });
    assert.equal(nat64.status, 201, JSON.stringify(nat64.body));
  } finally {
    await h.close();
  }
});

test('an Idempotency-Key replays the create answer, secret included, and creates one webhook', async () => {
  const h = await eventsHarness();
  try {
    const body = { url: 'http://127.0.0.1:9/', events: ['campaign.paused'] };
    const idem = { 'idempotency-key': 'hook-1' };
    const first = await h.call<WebhookWire>('POST', '/v1/webhooks', body, 'admin', idem);
    const again = await h.call<WebhookWire>('POST', '/v1/webhooks', body, 'admin', idem);
    assert.equal(first.status, 201);
    assert.deepEqual([again.status, again.body], [201, first.body]);
    assert.equal((await h.store.liveWebhooks()).length, 1);
    const other = { ...body, events: ['redemption.confirmed'] };
    assertError(
      await h.call('POST', '/v1/webhooks', other, 'admin', idem),
      409,
      'idempotency_key_reused',
      'Idempotency-Key',
    );
  } finally {
    await h.close();
  }
});

test('the number of live webhooks is bounded', async () => {
  const h = await eventsHarness();
  try {
    const { limits } = await import('../../src/config/limits.ts');
    for (let i = 0; i < limits.webhooks_max; i++) {
      const res = await h.call('POST', '/v1/webhooks', { url: `http://127.0.0.1:9/${i}`, events: ['campaign.paused'] });
      assert.equal(res.status, 201);
    }
    assertError(
      await h.call('POST', '/v1/webhooks', { url: 'http://127.0.0.1:9/x', events: ['campaign.paused'] }),
      400,
      'invalid_request',
    );
    const page = await h.call<ListWire<WebhookWire>>('GET', '/v1/webhooks?limit=100');
    assert.equal(page.body.data.length, limits.webhooks_max);
  } finally {
    await h.close();
  }
});
