import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { Engine } from '../../src/engine/engine.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { slowStore } from './slow-store.ts';

test('shutdown finishes the request in flight and is not held open by a client that sends nothing', async () => {
  const slowness = { batch_ms: 0, read_ms: 0 };
  const store = slowStore(new SqliteStore({ path: ':memory:' }), slowness);
  const engine = await Engine.open(store, {});
  const { secret } = await createApiKey(store, engine.ids, engine.now(), { name: 'r', scopes: ['read'], actor: null });
  const server = await startServer({ engine, port: 0, host: '127.0.0.1', handle_signals: false });

  const silent = createConnection(server.port, '127.0.0.1');
  silent.on('error', () => undefined);
  await once(silent, 'connect');
  slowness.read_ms = 300;
  const inflight = fetch(`${server.url}/v1/campaigns`, { headers: { authorization: `Bearer ${secret}` } });
  await new Promise((resolve) => setTimeout(resolve, 100));

  let closed = false;
  const closing = server.close().then(() => {
    closed = true;
  });
  const res = await inflight;
  assert.equal(res.status, 200, 'the request in flight at shutdown is answered');
  assert.equal(res.headers.get('connection'), 'close');
  // Generous bound (grace + 20 s): before the fix this hung until the socket's keep-alive timeout, minutes.
  const bound = new Promise((resolve) => setTimeout(resolve, limits.shutdown_grace_ms + 20_000).unref());
  await Promise.race([closing, bound]);
  assert.ok(closed, 'shutdown completed');
  silent.destroy();
});
