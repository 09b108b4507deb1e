import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { test } from 'node:test';
import { limits } from '../../src/config/limits.ts';
import { Engine } from '../../src/engine/engine.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { startServer } from '../../src/http/server.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

/** A store whose first campaign listing waits until the test lets it go; `entered` once it is waiting. */
function gatedListing(inner: SqliteStore): { store: SqliteStore; entered: Promise<void>; release: () => void } {
  let entered: () => void = () => undefined;
  const inList = new Promise<void>((resolve) => {
    entered = resolve;
  });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop !== 'listCampaigns') return value.bind(target);
      return async (...args: unknown[]) => {
        entered();
        await gate;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, entered: inList, release };
}

test('shutdown finishes the request in flight and is not held open by a client that sends nothing', async () => {
  const { store, entered, release } = gatedListing(new SqliteStore({ path: ':memory:' }));
  const engine = await Engine.open(store, {});
  const { secret } = await createApiKey(store, engine.ids, engine.now(), { name: 'r', scopes: ['read'], actor: null });
  const server = await startServer({ engine, port: 0, host: '127.0.0.1', handle_signals: false });

  const silent = createConnection(server.port, '127.0.0.1');
  silent.on('error', () => undefined);
  await once(silent, 'connect');
  // The request is in flight (waiting in the store) when shutdown begins, however slow the machine.
  const inflight = fetch(`${server.url}/v1/campaigns`, { headers: { authorization: `Bearer ${secret}` } });
  await entered;

  let closed = false;
  const closing = server.close().then(() => {
    closed = true;
  });
  while (server.app.server.listening) await new Promise((resolve) => setImmediate(resolve));
  release();
  const res = await inflight;
  assert.equal(res.status, 200, 'the request in flight at shutdown is answered');
  assert.equal(res.headers.get('connection'), 'close');
  // Generous bound (grace + 20 s): before the fix this hung until the socket's keep-alive timeout, minutes.
  const bound = new Promise((resolve) => setTimeout(resolve, limits.shutdown_grace_ms + 20_000).unref());
  await Promise.race([closing, bound]);
  assert.ok(closed, 'shutdown completed');
  silent.destroy();
});

test('a request that reaches a closing server is answered with the API error shape: 503 overloaded with Retry-After', async () => {
  // The first campaign listing waits at the store until the test lets it go.
  const { store, entered: inList, release } = gatedListing(new SqliteStore({ path: ':memory:' }));
  const engine = await Engine.open(store, {});
  const { secret } = await createApiKey(store, engine.ids, engine.now(), { name: 'r', scopes: ['read'], actor: null });
  const server = await startServer({ engine, port: 0, host: '127.0.0.1', handle_signals: false });

  // A request in flight keeps the server closing; a connection opened before shutdown (a load
  // balancer's) sends its request while the server closes.
  const inflight = fetch(`${server.url}/v1/campaigns`, { headers: { authorization: `Bearer ${secret}` } });
  await inList;
  const late = createConnection(server.port, '127.0.0.1');
  let raw = '';
  late.on('data', (d: Buffer) => {
    raw += d.toString();
  });
  late.on('error', () => undefined);
  await once(late, 'connect');
  const closing = server.close();
  while (server.app.server.listening) await new Promise((resolve) => setImmediate(resolve));
  late.write(`GET /v1/campaigns HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\n\r\n`);
  await once(late, 'close');
  release();
  assert.equal((await inflight).status, 200, 'the request in flight is answered');
  await closing;

  assert.match(raw, /^HTTP\/1\.1 503 /);
  assert.match(raw, /\r\nretry-after: 1\r\n/i);
  const body = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
  assert.equal(body.error.code, 'overloaded');
});
