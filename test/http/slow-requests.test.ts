import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { httpHarness } from './harness.ts';
import { rawConnection } from './raw-http.ts';

/** Guards a test that would otherwise wait forever for an answer that never comes. */
const hang_guard = { timeout: 10_000 };

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
          'POST /nope HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n{',
          `POST /v1/claims HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${h.keys.checkout.secret}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{`,
          'GET /healthz HTTP/1.1\r\nhost: x\r\nx-never: ends',
        ];
        for (const bytes of stalled) {
          const answer = await (await rawConnection(port, bytes)).text();
          const what = bytes.split('\r\n')[0];
          assert.match(answer, /^HTTP\/1\.1 408 /, what);
          assert.match(answer, /"code":"invalid_request"/, what);
        }
        assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      } finally {
        await h.app.close();
      }
    },
  );
});
