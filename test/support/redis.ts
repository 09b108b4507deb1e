import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { RedisCounters } from '../../src/engine/redis-counters.ts';

/** The Redis server tests use; each test gets its own key prefix, so nothing is flushed. */
export const redis_test_url = process.env.VOUCHSAFE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A port nothing listens on: counters pointed here are "Redis down". */
export const dead_redis_url = 'redis://127.0.0.1:1';

export const redis_unavailable_message = `Redis not reachable at ${redis_test_url}: start it or point VOUCHSAFE_TEST_REDIS_URL at one (under CI, or with that variable set, this fails instead of skipping)`;

/** Redis tests must run, not skip, under CI and whenever VOUCHSAFE_TEST_REDIS_URL is set on purpose. */
function mustRun(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  const inCi = ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
  return inCi || Boolean(process.env.VOUCHSAFE_TEST_REDIS_URL);
}

function reachable(url: string, timeout_ms = 2000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = createConnection({ host: u.hostname, port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeout_ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when the test Redis answers; throws when it must run but does not (CI). */
export async function redisAvailable(): Promise<boolean> {
  if (await reachable(redis_test_url)) return true;
  if (mustRun()) throw new Error(redis_unavailable_message);
  return false;
}

/** Counters on the test Redis under a fresh prefix (several of them with one prefix act as several nodes). */
export function testRedisCounters(prefix = freshPrefix(), url = redis_test_url): RedisCounters {
  return new RedisCounters({ url, key_prefix: prefix });
}

export function freshPrefix(): string {
  return `vouchsafe-test:${randomBytes(6).toString('hex')}:`;
}

/** Resolves once the client is connected (commands fail fast before that: no offline queue). */
export async function connected(counters: RedisCounters, timeout_ms = 5000): Promise<void> {
  if (!(await counters.ready(timeout_ms))) throw new Error(redis_unavailable_message);
}

/**
 * A TCP proxy to the test Redis that can be made slow (each reply held back, in order, while
 * commands pass at once: they run, their answers come late) or cut (connections dropped and
 * refused, Redis keeping its data), and then made well again.
 */
export interface RedisProxy {
  url: string;
  /** Holds each reply back this long from now on (0: at once). */
  delay(ms: number): void;
  /** Resolves once every reply held back has been passed on. */
  drained(): Promise<void>;
  /** Drops every connection and refuses new ones until up(). */
  down(): void;
  up(): void;
  close(): void;
}

export async function redisProxy(url = redis_test_url): Promise<RedisProxy> {
  const target = new URL(url);
  let delay_ms = 0;
  let cut = false;
  let held = 0;
  let idle: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const release = () => {
    held -= 1;
    if (held > 0) return;
    const waiting = idle;
    idle = [];
    for (const wake of waiting) wake();
  };
  const server = createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 6379) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream);
    // Replies keep their order: each waits for its own delay and for the one before it.
    let previous = Promise.resolve();
    upstream.on('data', (chunk: Buffer) => {
      held += 1;
      const wait_ms = delay_ms;
      const due = new Promise<void>((r) => (wait_ms === 0 ? r() : setTimeout(r, wait_ms)));
      previous = Promise.all([previous, due]).then(() => {
        if (!client.destroyed) client.write(chunk);
        release();
      });
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    url: `redis://127.0.0.1:${address.port}`,
    delay: (ms) => {
      delay_ms = ms;
    },
    drained: () => (held === 0 ? Promise.resolve() : new Promise((wake) => idle.push(wake))),
    down: () => {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    up: () => {
      cut = false;
    },
    close: () => {
      cut = true;
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
