import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../src/engine/clock.ts';
import { Engine } from '../../src/engine/engine.ts';
import { unpackOutbox } from '../../src/events/event-body.ts';
import { EventSystem, type EventsOptions } from '../../src/events/events.ts';
import { verifySignature } from '../../src/events/signature.ts';
import { createApiKey } from '../../src/http/api-keys.ts';
import { buildApp } from '../../src/http/app.ts';
import type { Store } from '../../src/store/port.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Answer, Method } from '../http/harness.ts';
import { t0 } from '../http/harness.ts';

export interface Received {
  headers: IncomingHttpHeaders;
  /** The raw body bytes as sent. */
  raw: Buffer;
  body: { id: string; type: string; created_at: string; data: Record<string, unknown> };
}

/** A local webhook receiver on 127.0.0.1 that answers each request with the next scripted status (then 200). */
export interface Receiver {
  url: string;
  received: Received[];
  /** Statuses for the next requests, in order; 'hang' never answers. */
  script: Array<number | 'hang'>;
  close(): Promise<void>;
}

export async function receiver(): Promise<Receiver> {
  const received: Received[] = [];
  const script: Array<number | 'hang'> = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      received.push({ headers: req.headers, raw, body: JSON.parse(raw.toString('utf8')) as Received['body'] });
      const next = script.shift() ?? 200;
      if (next === 'hang') return;
      res.writeHead(next, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    script,
    close: async () => {
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.closeAllConnections();
      server.close();
      await closed;
    },
  };
}

export interface EventsHarness {
  store: Store;
  engine: Engine;
  clock: ManualClock;
  events: EventSystem;
  app: FastifyInstance;
  call<T = unknown>(
    method: Method,
    url: string,
    body?: unknown,
    key?: 'admin' | 'read',
    headers?: Record<string, string>,
  ): Promise<Answer<T>>;
  close(): Promise<void>;
}

/** Engine, events layer (not started: tests drive dispatcher.runOnce()) and app over one store. */
export async function eventsHarness(
  opts: Partial<EventsOptions> = {},
  store: Store = new SqliteStore({ path: ':memory:' }),
  now_ms = t0 + 60_000,
): Promise<EventsHarness> {
  const clock = new ManualClock(now_ms);
  const engine = await Engine.open(store, { clock, approval_threshold_minor: Number.MAX_SAFE_INTEGER });
  const events = new EventSystem(engine, {
    allow_private: true,
    tuning: { random: () => 0.5, retry: { attempts_max: 4, base_ms: 1_000, cap_ms: 10_000 }, timeout_ms: 10_000 },
    ...opts,
  });
  await events.wire();
  const app = buildApp({ engine, webhooks: events.webhooks });
  const secrets: Record<string, string> = {};
  for (const name of ['admin', 'read'] as const) {
    const k = await createApiKey(store, engine.ids, clock.now(), { name, scopes: [name], actor: null });
    secrets[name] = k.secret;
  }
  const call = async <T>(
    method: Method,
    url: string,
    body?: unknown,
    key: 'admin' | 'read' = 'admin',
    extra: Record<string, string> = {},
  ) => {
    const headers: Record<string, string> = { ...extra, authorization: `Bearer ${secrets[key]}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.inject({
      method,
      url,
      headers,
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: res.json() as T, headers: res.headers };
  };
  return {
    store,
    engine,
    clock,
    events,
    app,
    call,
    close: async () => {
      await events.stop();
      await app.close();
      await engine.close();
      await store.close();
    },
  };
}

/**
 * A node event (EventSystem.publish, as the periodic audit digest sends) reaches the outbox only
 * while some webhook wants its type, and is then relayed, signed and delivered like a batch's.
 */
export async function checkPublishedEvent(h: EventsHarness): Promise<void> {
  const r = await receiver();
  try {
    const data = { digest: 'a'.repeat(64), created_at: '2026-01-01T00:00:00.000Z', chains: 3, file: '/d/x.json' };
    await h.events.wire();
    await h.events.publish('audit.digest', data);
    assert.deepEqual(unpackOutbox(await h.store.pendingOutbox(100)), [], 'nobody wants audit.digest yet');
    const made = await h.call<{ id: string; secret: string }>('POST', '/v1/webhooks', {
      url: r.url,
      events: ['audit.digest'],
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    await h.events.wire();
    await h.events.publish('audit.digest', data);
    const pending = unpackOutbox(await h.store.pendingOutbox(100));
    assert.deepEqual(
      pending.map((e) => e.type),
      ['audit.digest'],
    );
    for (let i = 0; i < 20 && r.received.length === 0; i++) await h.events.dispatcher.runOnce();
    assert.equal(r.received.length, 1);
    const got = r.received[0];
    assert.ok(got);
    assert.equal(got.body.type, 'audit.digest');
    assert.equal(got.body.id, pending[0]?.id);
    assert.deepEqual(got.body.data, data);
    const now_s = Math.floor(h.clock.now() / 1000);
    assert.ok(verifySignature(String(got.headers['vouchsafe-signature']), made.body.secret, got.raw, now_s));
    assert.deepEqual(unpackOutbox(await h.store.pendingOutbox(100)), [], 'relayed once');
  } finally {
    await r.close();
  }
}
