import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { makeLogger } from '../../src/http/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { slowStore } from '../faults/slow-store.ts';
import { activeCampaign } from '../support/fixtures.ts';
import { assertError, campaignBody, httpHarness } from './harness.ts';
import { type RawConnection, rawConnection } from './raw-http.ts';

/** Guards a test that would otherwise wait forever for an answer that never comes (a bound on a hang, not a speed). */
const hang_guard = { timeout: 120_000 };

describe('requests that never finish arriving', () => {
  test('the server has a request and a headers timeout by default (limits.ts)', async () => {
    const h = await httpHarness();
    assert.equal(h.app.server.requestTimeout, limits.http_request_timeout_ms);
    assert.equal(h.app.server.headersTimeout, limits.http_headers_timeout_ms);
    assert.ok(limits.http_headers_timeout_ms <= limits.http_request_timeout_ms);
    await h.app.close();
  });

  test(
    'a body announced and never sent, or headers never ended: 408 in the API error shape, connection closed',
    hang_guard,
    async () => {
      const h = await httpHarness({}, { timeouts: { headers_ms: 50, request_ms: 100, check_ms: 20 } });
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = h.app.server.address() as AddressInfo;
      try {
        const stalled = [
          `POST /v1/redemptions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.keys.checkout.secret}\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n`,
          `POST /v1/claims HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.keys.checkout.secret}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
          'GET /healthz HTTP/1.1\r\nhost: x\r\nx-never: ends',
        ];
        for (const bytes of stalled) {
          const answer = await (await rawConnection(port, bytes)).text();
          const what = bytes.split('\r\n')[0];
          assert.match(answer, /^HTTP\/1\.1 408 /, what);
          assert.match(answer, /"code":"invalid_request"/, what);
        }
        // The server is still up. With timeouts this short, a machine busy enough to hold the
        // server's event loop past 50 ms between accepting a request and reading it answers 408 too.
        let status = 0;
        for (let i = 0; i < 10 && status !== 200; i++)
          status = (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
        assert.equal(status, 200);
      } finally {
        await h.app.close();
      }
    },
  );
});

describe('requests that have arrived', () => {
  test('a request whose answer takes longer than the request timeout is still answered: the timeout is for arriving', async () => {
    const slowness = { batch_ms: 0, read_ms: 0 };
    const store = slowStore(new SqliteStore({ path: ':memory:' }), slowness);
    const h = await httpHarness({}, { timeouts: { headers_ms: 50, request_ms: 100, check_ms: 20 } }, store);
    const url = await h.app.listen({ port: 0, host: '127.0.0.1' });
    try {
      slowness.read_ms = 300;
      const res = await fetch(`${url}/v1/campaigns`, { headers: { authorization: `Bearer ${h.keys.read.secret}` } });
      assert.equal(res.status, 200);
    } finally {
      await h.app.close();
    }
  });
});

describe('what counts against the in-flight limit', () => {
  test(
    'requests still arriving, unmatched or without a key take no place: /healthz and keyed requests answer',
    hang_guard,
    async () => {
      const h = await httpHarness({}, { hardening: { inflight_max: 4 } });
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = h.app.server.address() as AddressInfo;
      // node:http hands a request over once its headers are in; the app's hooks see it in that same turn.
      let arrived = 0;
      h.app.server.on('request', () => {
        arrived++;
      });
      const stalled: RawConnection[] = [];
      try {
        for (let i = 0; i < 5; i++) {
          const head = 'host: x\r\ncontent-type: application/json';
          stalled.push(await rawConnection(port, `POST /nope HTTP/1.1\r\n${head}\r\ncontent-length: 1000000\r\n\r\n`));
          const auth = `authorization: Bearer ${h.keys.checkout.secret}`;
          stalled.push(
            await rawConnection(
              port,
              `POST /v1/claims HTTP/1.1\r\n${head}\r\n${auth}\r\ncontent-length: 1000\r\n\r\n{`,
            ),
          );
        }
        while (arrived < stalled.length) await new Promise((resolve) => setImmediate(resolve));
        const url = `http://127.0.0.1:${port}`;
        assert.equal((await fetch(`${url}/healthz`)).status, 200);
        const auth = { authorization: `Bearer ${h.keys.read.secret}` };
        for (let i = 0; i < 6; i++) assert.equal((await fetch(`${url}/v1/campaigns`, { headers: auth })).status, 200);
      } finally {
        for (const conn of stalled) conn.socket.destroy();
        await h.app.close();
      }
    },
  );

  test("the kill switch is never shed: an admin's pause, revoke, emergency stop and incident answer while all else gets 503", async () => {
    const h = await httpHarness({}, { hardening: { inflight_max: 0 } });
    // Made through the engine: over HTTP they would be shed.
    const made = [(await activeCampaign(h)).id, (await activeCampaign(h)).id];
    // Everything else is shed, an admin's other calls included: the limit still bounds memory.
    assertError(await h.call('GET', '/v1/campaigns', { key: 'read' }), 503, 'overloaded');
    assertError(await h.call('GET', '/v1/campaigns'), 503, 'overloaded');
    const claim = { campaign_id: made[0], user_id: 'u' };
    assertError(await h.call('POST', '/v1/claims', { key: 'checkout', body: claim }), 503, 'overloaded');
    assertError(await h.call('POST', '/v1/claims', { body: claim }), 503, 'overloaded');
    assertError(await h.call('POST', '/v1/campaigns', { body: campaignBody() }), 503, 'overloaded');
    const [a, b] = made;
    const paused = await h.call<{ status: string }>('POST', `/v1/campaigns/${a}/pause`, { body: { reason: 'leak' } });
    assert.equal(paused.status, 200, JSON.stringify(paused.body));
    assert.equal(paused.body.status, 'paused');
    assert.equal((await h.call('POST', `/v1/campaigns/${a}/revoke`, { body: { reason: 'leak' } })).status, 200);
    const scope = { campaign_ids: [b], merchant_ids: null, from: null, to: null };
    const incident = await h.call('POST', '/v1/incidents', {
      body: { title: 'leak', scope, actions: ['pause_campaigns'] },
    });
    assert.equal(incident.status, 201, JSON.stringify(incident.body));
    assert.equal((await h.call('POST', '/v1/emergency-stop', { body: { reason: 'leak' } })).status, 200);
    // A key that may not press it is refused for that, before any limit.
    assertError(await h.call('POST', `/v1/campaigns/${b}/pause`, { key: 'approver', body: {} }), 403, 'forbidden');
    await h.app.close();
  });

  test('a shed request is 503 overloaded, not logged as an internal error: one warning as shedding starts', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = makeLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) });
    const h = await httpHarness({}, { hardening: { inflight_max: 0 }, logger });
    for (let i = 0; i < 3; i++) assertError(await h.call('GET', '/v1/campaigns', { key: 'read' }), 503, 'overloaded');
    assert.deepEqual(
      lines.filter((l) => l.level >= 40).map((l) => [l.level, l.msg]),
      [[40, 'overloaded: shedding requests with 503 until some finish']],
    );
    await h.app.close();
  });
});
