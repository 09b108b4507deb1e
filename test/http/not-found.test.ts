import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { assertError, httpHarness } from './harness.ts';
import { rawConnection } from './raw-http.ts';

describe('bodies nobody asked for are not read', () => {
  test('an unmatched route is 404 whatever its body: broken JSON, a key twice, over 1 MiB; the body is never parsed', async () => {
    const h = await httpHarness();
    const bodies = ['{', '{"a":1,"a":2}', `{"a":"${'x'.repeat(limits.body_bytes_max)}"}`];
    for (const raw of bodies) {
      for (const url of ['/nope', '/console', '/console/campaigns', '/v1/nope', '/healthz']) {
        const res = await h.call('POST', url, { raw });
        assertError(res, 404, 'not_found');
        assert.equal(res.headers.connection, 'close', `${url}: the connection is not kept to read the body`);
      }
      // Without a key, a /v1 path is refused before its body too.
      assertError(await h.call('POST', '/v1/claims', { raw, key: null }), 401, 'unauthenticated');
      // Routes that take no body never parse one.
      const health = await h.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'content-type': 'application/json' },
        payload: raw,
      });
      assert.equal(health.statusCode, 200);
    }
    await h.app.close();
  });

  test('over a socket: a body announced and never sent to an unmatched route is answered 404 at once, and the connection closed', {
    timeout: 120_000,
  }, async () => {
    const h = await httpHarness();
    await h.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = h.app.server.address() as AddressInfo;
    try {
      const head = 'host: x\r\ncontent-type: application/json\r\ncontent-length: 1000000';
      for (const url of ['/nope', '/console']) {
        const answer = await (await rawConnection(port, `POST ${url} HTTP/1.1\r\n${head}\r\n\r\n{"a":`)).text();
        assert.match(answer, /^HTTP\/1\.1 404 /, url);
        assert.match(answer, /"code":"not_found"/, url);
        assert.equal(answer.match(/HTTP\/1\.1/g)?.length, 1, `${url}: one answer, nothing after it`);
      }
    } finally {
      await h.app.close();
    }
  });
});
